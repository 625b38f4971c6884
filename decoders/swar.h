/* swar.h: looking at eight bytes at a time in a guint64 ("SIMD within a
 * register"), for scans whose bytes are mostly ones they pass over (text
 * that needs no escaping, no reference, no line end). Each test is exact
 * when it says no; a word it flags holds such a byte or follows one, and
 * the caller looks at it byte by byte. */
#ifndef XM_SWAR_H
#define XM_SWAR_H

#include <string.h>

#include <glib.h>

#define XM_SWAR_ONES G_GUINT64_CONSTANT (0x0101010101010101)
#define XM_SWAR_HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

static inline guint64
xm_swar_load (const guint8 *p)
{
  guint64 w;

  memcpy (&w, p, sizeof w);
  return w;
}

/* Non-zero when a byte of w is c. */
static inline guint64
xm_swar_has (guint64 w, guint8 c)
{
  guint64 x = w ^ (XM_SWAR_ONES * c);

  return (x - XM_SWAR_ONES) & ~x & XM_SWAR_HIGHS;
}

/* Non-zero when a byte of w is below n (n at most 0x80). */
static inline guint64
xm_swar_has_below (guint64 w, guint8 n)
{
  return (w - XM_SWAR_ONES * n) & ~w & XM_SWAR_HIGHS;
}

#endif
