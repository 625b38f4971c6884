/* replay.h: `xmitm replay`, a recording as a regression test.
 *
 * Replays the client side of a recording against a server: opens each
 * recorded connection anew, negotiates and authenticates as recorded, sends
 * the recorded client stanzas in recorded order (across connections) and
 * compares what the server sends with what it sent then, after normalising
 * what legitimately changes. Exit status 0: the same; 1: a difference;
 * 2: an error (bad file, unreachable server, authentication failed). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define XM_REPLAY_SAME 0
#define XM_REPLAY_DIFFERENT 1
#define XM_REPLAY_ERROR 2

/* `xmitm replay ...`: argv[0] is "replay". Returns the exit status. */
int xm_replay_main (int argc, char **argv);

G_END_DECLS
