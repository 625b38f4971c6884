#!/usr/bin/env bash
# xmitm's benchmark: xmitm next to SSLsplit and socat, measured the same way
# in one run, with the workloads of issue 8. Prints markdown tables.
#
#   tests/bench/run.sh            full run: 3 reps x 5 s per stream cell,
#                                 10,000 idle sessions (about 20 minutes)
#   tests/bench/run.sh --quick    1 rep x 3 s, 2,000 sessions (about 6 minutes)
#   tests/bench/run.sh --paths    only the rows of issue 20 (below; about
#                                 3 minutes with --sizes 1000,10000,100000)
#
# Options: --reps N, --dur S, --conns N, --harness DIR, --out DIR,
# --sizes LIST (stanzas per recording, default 1000,10000,100000,1000000).
#
# The peers and the anchors come from the shared XMPP MITM bench harness
# (a STARTTLS client and an echo server in C, SSLsplit and socat as
# anchors): ../shared/bench next to this repository, or --harness DIR /
# $XMITM_BENCH_HARNESS. The middlebox gets CPU 1, the peers CPU 0.
#
# Workloads:
#   stream  echo throughput (256 B stanzas, window 1024), bulk (4 KiB,
#           window 64), latency (window 1): xmitm --quiet (frames every
#           stanza of both directions) and --quiet --record (records every
#           stanza), sslsplit, sslsplit -L (logs content), socat (no TLS);
#           and the two logging middleboxes again with /dev/null as their
#           file, which leaves out what the page cache costs them
#   storage what writing 2 GiB to a new file costs here (see README)
#   decode  build-bench/tests/decode-bench: framing and recording cost per
#           stanza without sockets or TLS; build-bench/tests/web-bench: the
#           same stanzas over TCP, WebSocket and BOSH through the observer
#   conns   N idle STARTTLS sessions held open: failures, RSS and CPU per
#           session (xmitm and sslsplit)
#   slow    a client that stops reading while the server floods it:
#           xmitm's RSS growth (tests/bench/slow_reader.py)
#   paths   (issue 20) echo throughput of xmitm printing every stanza to a
#           file and of --json, beside sslsplit -L and --record; show,
#           show --json and export --pcap of recordings of 1k to 1M
#           stanzas (tests/bench/make-recording.py) beside `jq -c .` on
#           the same file; replay of them against the harness's echo
#           server, and how long a SIGTERM takes to be honoured
# Not part of `meson test`: numbers go to the README, not into assertions.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
harness=${XMITM_BENCH_HARNESS:-$top/../shared/bench}
reps=3 dur=5 conns=10000 out="" only_paths=0 sizes="1000,10000,100000,1000000"
while [ $# -gt 0 ]; do
  case $1 in
    --quick) reps=1 dur=3 conns=2000; shift ;;
    --paths) only_paths=1; shift ;;
    --sizes) sizes=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --dur) dur=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --harness) harness=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$harness/run.sh" ]; then
  echo "run.sh: no bench harness at $harness (give --harness DIR)" >&2
  exit 2
fi
harness=$(cd "$harness" && pwd)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
for p in socat sslsplit build-essential libssl-dev libexpat1-dev jq; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# An optimized build of its own, so that the test builds stay as they are.
bench_build=$top/build-bench
[ -f "$bench_build/build.ninja" ] || meson setup "$bench_build" "$top" -Dbuildtype=release >/dev/null
ninja -C "$bench_build" cli/xmitm >/dev/null
xmitm=$bench_build/cli/xmitm

# Each session holds two descriptors in a middlebox.
ulimit -n "$(ulimit -Hn)"
fd_cap=$(( ($(ulimit -Hn) - 64) / 2 ))
if [ "$conns" -gt "$fd_cap" ]; then
  echo "run.sh: $conns sessions need $((2 * conns)) descriptors, the limit here is" \
       "$(ulimit -Hn): measuring $fd_cap sessions" >&2
  conns=$fd_cap
fi

[ -n "$out" ] || out=$bench_build/results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
proxy="$xmitm proxy --listen 127.0.0.1:{PORT} --upstream {SINK_HOST}:{SINK_PORT} --upstream-ca {SINK_CRT} --ca-cert {CA_CRT} --ca-key {CA_KEY}"

{
  echo "# xmitm benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), kernel $(uname -r), $(openssl version | cut -d' ' -f1-2), xmitm $(git -C "$top" describe --always --dirty 2>/dev/null || echo '?'); medians of $reps run(s) of $dur s; middlebox pinned to CPU 1, peers to CPU 0."
  echo
} > "$out/summary.md"

# ---- issue 20: printing, --json, show, export, replay ----
paths() {
  local certs=$harness/work/certs tmp=$out/paths n f t big_wall=0
  mkdir -p "$tmp"
  # Echo throughput of the printing paths beside the anchors, one run.
  "$harness/run.sh" --reps "$reps" --dur "$dur" --workloads tput --out "$out/paths-stream" \
    --mb xmitm-print 16025 "$proxy --color=never > {RUN}/out.txt" --mb-args '-A {CA_CRT}' \
    --mb xmitm-json 16026 "$proxy --json > {RUN}/out.jsonl" --mb-args '-A {CA_CRT}' \
    --mb xmitm-record 16027 "$proxy --quiet --record {RUN}/session.jsonl" --mb-args '-A {CA_CRT}' \
    sslsplit-L xmitm-print xmitm-json xmitm-record >/dev/null
  # One command on CPU 1, its output to $out_to: "wall_s cpu_s maxrss_kb
  # exit_status".
  local out_to=/dev/null
  measure() {
    /usr/bin/time -o "$tmp/time" -f "%e %U %S %M %x" taskset -c 1 "$@" >"$out_to" 2>"$tmp/stderr" || true
    awk '{printf "%s %.2f %s %s", $1, $2 + $3, $4, $5}' "$tmp/time"
  }
  rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%d", (t > 0 ? n / t : 0) }'; }
  {
    echo "| stanzas | file MB | jq -c . stanzas/s (CPU s) | show | show --json | export --pcap | show vs jq | show --json vs jq | export vs jq | show max RSS KB |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  } > "$tmp/offline.md"
  {
    echo "| stanzas | wall s | stanzas/s | us/stanza | CPU s | max RSS MB | verdict |"
    echo "|---|---|---|---|---|---|---|"
  } > "$tmp/replay.md"
  taskset -c 0 "$harness/peers/xmpp_sink" -p 16033 -c "$certs/sink.crt" -k "$certs/sink.key" -q \
    >/dev/null 2>&1 &
  local sink=$!
  for n in ${sizes//,/ }; do
    f=$tmp/rec-$n.jsonl
    /usr/bin/python3 "$top/tests/bench/make-recording.py" "$n" "$f"
    local jq show json export
    jq=$(measure jq -c . "$f")
    show=$(measure "$xmitm" show --color=never "$f")
    json=$(measure "$xmitm" show --json "$f")
    export=$(measure "$xmitm" export --pcap "$tmp/out.pcap" "$f")
    set -- $jq; local jw=$1 jc=$2
    set -- $show; local sw=$1 sc=$2 sm=$3
    set -- $json; local ow=$1 oc=$2
    set -- $export; local ew=$1 ec=$2
    echo "| $n | $(( $(stat -c %s "$f") / 1000000 )) | $(rate "$n" "$jw") ($jc) |" \
         "$(rate "$n" "$sw") ($sc) | $(rate "$n" "$ow") ($oc) | $(rate "$n" "$ew") ($ec) |" \
         "$(awk -v a="$jw" -v b="$sw" 'BEGIN{printf "%.1fx", a / b}') |" \
         "$(awk -v a="$jw" -v b="$ow" 'BEGIN{printf "%.1fx", a / b}') |" \
         "$(awk -v a="$jw" -v b="$ew" 'BEGIN{printf "%.1fx", a / b}') | $sm |" >> "$tmp/offline.md"
    out_to=$tmp/stdout
    t=$(measure "$xmitm" replay "$f" --server 127.0.0.1:16033 --password x \
          --upstream-ca "$certs/sink.crt")
    out_to=/dev/null
    set -- $t
    big_wall=$1
    echo "| $n | $1 | $(rate "$n" "$1") | $(awk -v n="$n" -v t="$1" 'BEGIN{printf "%.1f", t * 1e6 / n}') |" \
         "$2 | $(( $3 / 1024 )) | $(grep -o 'SAME\|DIFFERENT\|INTERRUPTED' "$tmp/stdout" | tail -1) (exit $4) |" >> "$tmp/replay.md"
  done
  # SIGTERM half way through a replay of the largest recording.
  local big=$tmp/rec-${sizes##*,}.jsonl t0 rc=0 half
  half=$(awk -v w="$big_wall" 'BEGIN { printf "%.2f", (w > 0.4 ? w / 2 : 0.2) }')
  taskset -c 1 "$xmitm" replay "$big" --server 127.0.0.1:16033 --password x \
    --upstream-ca "$certs/sink.crt" >/dev/null 2>&1 &
  local rp=$!
  sleep "$half"
  t0=$(date +%s.%N)
  kill -TERM "$rp" 2>/dev/null || true
  wait "$rp" || rc=$?
  sigterm=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b - a}')
  sigterm="replay of ${sizes##*,} stanzas: SIGTERM $half s after the start (half its time), exit $rc after $sigterm s"
  kill "$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  rm -f "$tmp"/rec-*.jsonl "$tmp/out.pcap"
  {
    echo "## Printing paths (echo 256 B, middlebox on CPU 1)"
    echo
    sed -n '/^|/p' "$out/paths-stream/summary.md" | head -20
    echo
    echo "## show, show --json, export --pcap of a recording (CPU 1; stanzas/s over wall time, CPU seconds in brackets; vs jq: jq's wall time over xmitm's)"
    echo
    cat "$tmp/offline.md"
    echo
    echo "## Replay against the harness's echo server (sink on CPU 0, replay on CPU 1)"
    echo
    cat "$tmp/replay.md"
    echo
    echo "$sigterm"
    echo
  } >> "$out/summary.md"
}

if [ "$only_paths" = 1 ]; then
  for p in jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
      || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p"
  done
  paths
  cat "$out/summary.md"
  echo
  echo "run.sh: everything is in $out"
  exit 0
fi

"$harness/run.sh" --reps "$reps" --dur "$dur" --workloads tput,bulk,lat --out "$out/stream" \
  --mb xmitm-quiet 16020 "$proxy --quiet" --mb-args '-A {CA_CRT}' \
  --mb xmitm-record 16021 "$proxy --quiet --record {RUN}/session.jsonl" --mb-args '-A {CA_CRT}' \
  --mb sslsplit-L-null 16023 "sslsplit -k {CA_KEY} -c {CA_CRT} -L /dev/null autossl 127.0.0.1 {PORT} {SINK_HOST} {SINK_PORT}" \
    --mb-args '-A {CA_CRT}' \
  --mb xmitm-record-null 16024 "$proxy --quiet --record /dev/null" --mb-args '-A {CA_CRT}' \
  socat sslsplit sslsplit-L xmitm-quiet xmitm-record sslsplit-L-null xmitm-record-null

# What the page cache costs a process that writes a new file, here: CPU
# seconds per GB for 2 GiB, on CPU 1. On a VM that gives freed memory back
# to its host (virtio-balloon free page reporting), pages that were given
# back fault in again from the host, and this is several times what it is
# for pages the guest kept.
storage=$(taskset -c 1 /usr/bin/python3 - "$out/storage.tmp" <<'PY'
import os, sys, time
path = sys.argv[1]
buf = os.urandom(65536)
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
c0 = time.process_time(); t0 = time.perf_counter()
for _ in range(32768):
    os.write(fd, buf)
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
os.close(fd); os.unlink(path)
gb = 32768 * 65536 / 1e9
print("writing 2 GiB to a new file: %.2f ns of CPU per byte, %.2f GB/s" % (cpu / gb, gb / wall))
PY
)

ninja -C "$bench_build" tests/decode-bench tests/web-bench >/dev/null
decode=$(taskset -c 1 "$bench_build/tests/decode-bench" -r 10)
web=$(taskset -c 1 "$bench_build/tests/web-bench" -r 5)

"$harness/run.sh" --suite conns --conns "$conns" --reps 1 --out "$out/conns" \
  --mb xmitm 16022 "$proxy --quiet" --mb-args '-A {CA_CRT}' \
  sslsplit xmitm

# Slow reader: the harness's sink and certificates, xmitm on CPU 1.
certs=$harness/work/certs
taskset -c 0 "$harness/peers/xmpp_sink" -p 16031 -c "$certs/sink.crt" -k "$certs/sink.key" -q \
  >/dev/null 2>&1 &
sink=$!
taskset -c 1 $xmitm proxy --listen 127.0.0.1:16032 --upstream 127.0.0.1:16031 \
  --upstream-ca "$certs/sink.crt" --ca-cert "$certs/ca.crt" --ca-key "$certs/ca.key" --quiet \
  2>"$out/slow-xmitm.log" &
mb=$!
sleep 0.5
slow=$(taskset -c 0 /usr/bin/python3 "$top/tests/bench/slow_reader.py" --port 16032 \
         --ca "$certs/ca.crt" --pid "$mb" --seconds 15 || echo "RESULT failed")
kill "$mb" "$sink" 2>/dev/null || true
wait 2>/dev/null || true

paths

{
  echo "## Stream workloads"
  echo
  sed -n '/^|/p' "$out/stream/summary.md" | head -40
  echo
  echo "## Idle sessions ($conns)"
  echo
  sed -n '/^|/p' "$out/conns/summary.md"
  echo
  echo "## Slow reader (15 s of 256 B stanzas echoed to a client that never reads)"
  echo
  echo "\`$slow\`"
  echo
  echo "## Storage"
  echo
  echo "$storage"
  echo
  echo "## Decoding alone (decode-bench, CPU 1)"
  echo
  echo '```'
  echo "$decode"
  echo '```'
  echo
  echo "## Each transport through the observer (web-bench, CPU 1)"
  echo
  echo '```'
  echo "$web"
  echo '```'
} >> "$out/summary.md"
cat "$out/summary.md"
echo
echo "run.sh: everything is in $out"
