/* fuzz.h: what every fuzz target (tests/fuzz/fuzz-*.c) defines, and a few
 * helpers they share. The same sources link with libFuzzer (meson
 * -Dfuzzing=true, clang) or with replay-driver.c (a normal build, where
 * `meson test` replays each corpus). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static inline void
fuzz_log (const gchar *domain, GLogLevelFlags level, const gchar *message,
          gpointer user_data)
{
  g_log_default_handler (domain, level, message, user_data);
  /* abort(), not GLib's fatal breakpoint: libFuzzer catches SIGABRT and
   * saves the input, but not SIGTRAP. */
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();
}

/* A GLib critical or warning in the code under test (or in a library it
 * calls wrongly) is a bug: make it abort, so that the fuzzer (or the replay
 * test) reports it. */
static inline void
fuzz_glib_fatal (void)
{
  static gboolean done;

  if (!done)
    {
      g_log_set_default_handler (fuzz_log, NULL);
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL
                              | G_LOG_LEVEL_WARNING);
      done = TRUE;
    }
}

/* Reads the input as a little stream of numbers (for chunk sizes, options),
 * independently of the payload. */
typedef struct {
  const uint8_t *p;
  size_t left;
} FuzzIn;

static inline unsigned
fuzz_byte (FuzzIn *in)
{
  if (in->left == 0)
    return 0;
  in->left--;
  return *in->p++;
}

static inline unsigned
fuzz_u16 (FuzzIn *in)
{
  unsigned lo = fuzz_byte (in);
  return lo | fuzz_byte (in) << 8;
}

/* Up to n bytes of the input (fewer at its end). */
static inline size_t
fuzz_take (FuzzIn *in, size_t n, const uint8_t **out)
{
  if (n > in->left)
    n = in->left;
  *out = in->p;
  in->p += n;
  in->left -= n;
  return n;
}
