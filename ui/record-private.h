/* record-private.h: names shared by the recording writer and reader. */
#pragma once

#include "event.h"

extern const char *const xm_record_event_names[XM_EVENT_TRANSPORT + 1];
extern const char *const xm_record_levels[XM_NOTE_ERROR + 1];
