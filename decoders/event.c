#include "config.h"

#include "event.h"

const char *
xm_dir_arrow (XmDir dir)
{
  return dir == XM_DIR_C2S ? "C->S" : dir == XM_DIR_S2C ? "S->C" : "";
}
