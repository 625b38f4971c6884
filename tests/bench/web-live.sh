#!/usr/bin/env bash
# Echo throughput through xmitm proxy with and without --web (issue 22):
# does the live view cost the proxied sessions anything, with a browser
# following, a WebSocket that stopped reading, or no one watching?
#
#   tests/bench/web-live.sh [--reps N] [--dur S] [--harness DIR]
#
# The peers are the shared harness's (../shared/bench: xmpp_sink echoes,
# xmpp_bench -m tput -s 256 -w 1024 drives one STARTTLS session), on CPU 0
# with the web clients (tests/bench/web_client.py); xmitm on CPU 1, both
# of its threads. Rows: xmitm --quiet; --quiet --web with no page open; a
# client following every event through the API as a page does; a
# WebSocket that completed its upgrade and never reads; headless Chromium
# on the page. Prints a markdown table (medians of --reps runs, the modes
# taking turns); numbers, not assertions.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
harness=${XMITM_BENCH_HARNESS:-$top/../shared/bench}
reps=3 dur=5
while [ $# -gt 0 ]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --dur) dur=$2; shift 2 ;;
    --harness) harness=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "web-live.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$harness/peers/xmpp_bench" ] || make -C "$harness/peers" >/dev/null
[ -f "$harness/work/certs/ca.crt" ] || { echo "web-live.sh: run $harness/run.sh once (it makes the certificates)" >&2; exit 2; }
certs=$harness/work/certs

bench_build=$top/build-bench
[ -f "$bench_build/build.ninja" ] || meson setup "$bench_build" "$top" -Dbuildtype=release >/dev/null
ninja -C "$bench_build" cli/xmitm >/dev/null
xmitm=$bench_build/cli/xmitm

tmp=$(mktemp -d /tmp/xmitm-web-bench-XXXXXX)
sink_port=16041 proxy_port=16042 web_port=16043
taskset -c 0 "$harness/peers/xmpp_sink" -p $sink_port -c "$certs/sink.crt" -k "$certs/sink.key" -q \
  >/dev/null 2>&1 &
sink=$!
xpid="" cpid=""
# what this script started, by its PID, also when a run fails half way
cleanup() {
  for p in $cpid $xpid $sink; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
sleep 0.5

# one run: mode -> "stanzas_per_s MBps p50_us p99_us mb_cpu_pct mb_rss_kb | web line"
run() {
  local mode=$1 web=() url line result
  cpid=""
  [ "$mode" = none ] || web=(--web=127.0.0.1:$web_port)
  XDG_DATA_HOME=$tmp/data taskset -c 1 "$xmitm" proxy --listen 127.0.0.1:$proxy_port \
    --upstream 127.0.0.1:$sink_port --upstream-ca "$certs/sink.crt" \
    --ca-cert "$certs/ca.crt" --ca-key "$certs/ca.key" --quiet "${web[@]}" \
    >/dev/null 2>"$tmp/xmitm.err" &
  xpid=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$tmp/xmitm.err" 2>/dev/null && { [ "$mode" = none ] || grep -q "web view on" "$tmp/xmitm.err"; } && break
    sleep 0.05
  done
  if [ "$mode" != none ] && [ "$mode" != web ]; then
    url=$(grep -o 'http://[^ ]*' "$tmp/xmitm.err" || true)
    taskset -c 0 /usr/bin/python3 "$top/tests/bench/web_client.py" "$mode" "$url" >"$tmp/client.out" 2>"$tmp/client.err" &
    cpid=$!
    sleep 3  # Chromium takes a moment to open the page
  fi
  line=$(taskset -c 0 "$harness/peers/xmpp_bench" -h 127.0.0.1 -p $proxy_port -q -t 10 \
           -m tput -s 256 -w 1024 -d "$dur" -A "$certs/ca.crt" -P "$xpid" -Q "$sink" 2>/dev/null || true)
  result=$(echo "$line" | grep -oE '(stanzas_per_s|MBps|p50_us|p99_us|mb_cpu_pct|mb_rss_kb)=[^ ]+' \
           | cut -d= -f2 | tr '\n' ' ' || true)
  if [ -n "$cpid" ]; then
    kill -TERM "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true
    result="$result| $(cat "$tmp/client.out" 2>/dev/null)"
    cpid=""
  fi
  kill -TERM "$xpid" 2>/dev/null || true; wait "$xpid" 2>/dev/null || true
  xpid=""
  echo "$result"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR + 1) / 2)] : "-")}'; }

modes=${XMITM_WEB_BENCH_MODES:-none web follow stalled chromium}
# the modes take turns, rep after rep: a machine whose load drifts
# (other jobs) shifts all rows alike
for _ in $(seq "$reps"); do
  for mode in $modes; do run "$mode" >> "$tmp/rows-$mode"; done
done
echo "| xmitm | stanzas/s | MB/s | RTT p50 us | RTT p99 us | xmitm CPU % | xmitm RSS KB | web view (last run) |"
echo "|---|---|---|---|---|---|---|---|"
for mode in $modes; do
  cols=()
  for c in 1 2 3 4 5 6; do cols+=("$(cut -d'|' -f1 "$tmp/rows-$mode" | awk -v c=$c '{print $c}' | median)"); done
  label=$mode
  case $mode in
    none) label="--quiet" ;;
    web) label="--quiet --web, no page" ;;
    follow) label="--web, a client following every event" ;;
    stalled) label="--web, a WebSocket that never reads" ;;
    chromium) label="--web, headless Chromium (follow)" ;;
  esac
  echo "| $label | ${cols[0]} | ${cols[1]} | ${cols[2]} | ${cols[3]} | ${cols[4]} | ${cols[5]} | $(tail -1 "$tmp/rows-$mode" | cut -s -d'|' -f2) |"
done
