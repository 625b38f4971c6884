#!/bin/bash
# xmitm demo: a throwaway prosody on loopback that requires STARTTLS, xmitm
# in front of it, and two scripted clients (bob waits, alice sends) that
# trust xmitm's CA; xmitm intercepts TLS on both legs and prints the
# decrypted session on this terminal (SASL decoded, password redacted).
# The demo's CA lives in its temp dir, not in ~/.local/share/xmitm.
#
#   tests/integration/demo.sh [path/to/xmitm]     (default build/cli/xmitm)
#
# Needs prosody, openssl and python3-slixmpp (scripts/dev.sh demo installs them).
# Exit status 0 when bob received alice's message.
set -u

XMITM_BIN=${1:-build/cli/xmitm}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
BODY="Hello from the xmitm demo"

say() { printf 'demo: %s\n' "$*" >&2; }

if [ ! -x "$XMITM_BIN" ]; then
    say "no xmitm binary at $XMITM_BIN (build it: meson setup build && ninja -C build)"
    exit 2
fi
case $XMITM_BIN in /*) ;; *) XMITM_BIN=$PWD/$XMITM_BIN ;; esac

tmp=$(mktemp -d /tmp/xmitm-demo.XXXXXX)
serve_pid= xmitm_pid= bob_pid=

stop() {  # stop PID: SIGTERM, wait up to 10 s, then SIGKILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
cleanup() {
    stop "$bob_pid"; stop "$xmitm_pid"; stop "$serve_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_line() {  # wait_line FILE PREFIX TIMEOUT_S: prints the matching line
    local i
    for i in $(seq $(($3 * 10))); do
        if grep -q "^$2" "$1" 2>/dev/null; then
            grep -m1 "^$2" "$1"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# 1. prosody (peers.py serve prints "PORT n" once it listens)
"$PY" "$HERE/peers.py" serve --user alice:alicepw --user bob:bobpw --tls-required \
    >"$tmp/serve.out" 2>"$tmp/serve.err" &
serve_pid=$!
if ! line=$(wait_line "$tmp/serve.out" PORT 25); then
    say "prosody did not start:"; cat "$tmp/serve.out" "$tmp/serve.err" >&2
    exit 1
fi
prosody_port=${line#PORT }
cert=$(wait_line "$tmp/serve.out" CERT 5) || { say "prosody printed no certificate"; exit 1; }
prosody_cert=${cert#CERT }
say "prosody listening on 127.0.0.1:$prosody_port (STARTTLS required, its own certificate)"

# 2. xmitm in front of it, printing to this terminal
listen_port=$("$PY" -c "import sys; sys.path.insert(0, '$HERE'); import peers; print(peers.free_port())")
color=never
[ -t 1 ] && color=always
export XDG_DATA_HOME=$tmp/data
say "starting: $XMITM_BIN proxy --listen 127.0.0.1:$listen_port --upstream 127.0.0.1:$prosody_port --upstream-ca <prosody's certificate> --color=$color"
"$XMITM_BIN" proxy --listen "127.0.0.1:$listen_port" \
    --upstream "127.0.0.1:$prosody_port" --upstream-ca "$prosody_cert" --color=$color &
xmitm_pid=$!
if ! "$PY" -c "import sys; sys.path.insert(0, '$HERE'); import peers; peers.wait_listening($listen_port, timeout=10)" 2>"$tmp/wait.err" \
        || ! kill -0 "$xmitm_pid" 2>/dev/null; then
    say "xmitm did not start listening:"; cat "$tmp/wait.err" >&2
    exit 1
fi

# 3. bob logs in and waits; alice logs in and sends
ca=$XDG_DATA_HOME/xmitm/ca.pem   # made by xmitm at start-up; see `xmitm ca path`
client() { "$PY" "$HERE/client.py" --host 127.0.0.1 --port "$listen_port" --timeout 20 \
    --tls --ca "$ca" --tls-name localhost "$@"; }
client --jid bob@localhost --password bobpw --expect-body "$BODY" \
    >"$tmp/bob.out" 2>"$tmp/bob.err" &
bob_pid=$!
if ! wait_line "$tmp/bob.out" READY 25 >/dev/null; then
    say "bob could not log in:"; cat "$tmp/bob.err" >&2
    exit 1
fi
client --jid alice@localhost --password alicepw \
    --send-to bob@localhost --body "$BODY" >"$tmp/alice.out" 2>"$tmp/alice.err"
alice_rc=$?
wait "$bob_pid"; bob_rc=$?; bob_pid=
sleep 0.3   # let xmitm print the last events

# 4. stop xmitm and prosody
stop "$xmitm_pid"; xmitm_pid=
stop "$serve_pid"; serve_pid=

[ $alice_rc -eq 0 ] || { say "alice failed:"; cat "$tmp/alice.err" >&2; }
if [ $bob_rc -eq 0 ]; then
    say "bob received: $(grep -m1 '^RECEIVED' "$tmp/bob.out")"
    exit 0
fi
say "bob did not get the message:"; cat "$tmp/bob.err" >&2
exit 1
