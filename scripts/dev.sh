#!/usr/bin/env bash
# xmitm's one entry point on a fresh Debian 12 machine.
#
#   scripts/dev.sh demo   install, build, and run a demo session: a throwaway
#                         prosody, two real XMPP clients talking through xmitm,
#                         the decoded session printed
#   scripts/dev.sh test   install, build, run the whole test suite (unit and
#                         integration with real peers), then again under
#                         AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/dev.sh deps   only install the Debian packages and the npm web
#                         clients (tests/web)
#   scripts/dev.sh build  only build (into build/)
#   scripts/dev.sh fuzz [SECONDS [TARGET...]]
#                         install clang and libFuzzer, build the fuzz targets
#                         (build-fuzz/, -Dfuzzing=true) and run each one (or
#                         those named) for SECONDS (default 60) of CPU time,
#                         two at a time, on its corpus
#                         with the XMPP dictionary (docs/fuzzing.md); new
#                         inputs go to build-fuzz/corpus-new/, crashes to
#                         build-fuzz/crashes/ (non-zero exit if any)
#
# Needs root or sudo for apt-get. Test traffic stays on loopback and in
# network namespaces the tests create and remove (transparent mode).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

# Everything xmitm builds with, and every real peer its tests start.
PACKAGES=(
  build-essential meson ninja-build pkg-config
  scdoc man-db bash-completion zsh fish
  libglib2.0-dev libssl-dev libexpat1-dev zlib1g-dev libpcap-dev libjson-glib-dev
  libcap-dev libsoup-3.0-dev
  openssl prosody python3 python3-slixmpp tshark tcpdump
  ejabberd biboumi g++ libgloox-dev
  iptables nftables iproute2
  chromium chromium-driver python3-selenium
)

# The tests start their own throwaway ejabberd (tests/integration/ejabberd.py);
# the Debian package would also start a system-wide one (and epmd on
# 0.0.0.0:4369). When dev.sh installs it, a policy-rc.d for that one apt-get
# run forbids starting it (unless the machine has its own policy-rc.d), and
# on systemd it is disabled afterwards.
POLICY_RC_D=/usr/sbin/policy-rc.d

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing ${missing[*]}"
    local new_ejabberd=0 own_policy=0
    case " ${missing[*]} " in *" ejabberd "*) new_ejabberd=1 ;; esac
    if [ $new_ejabberd = 1 ] && [ ! -e "$POLICY_RC_D" ]; then
      # invoke-rc.d and deb-systemd-invoke ask it: 101 = do not start.
      printf '%s\n' '#!/bin/sh' \
        '# from xmitm scripts/dev.sh, for one apt-get run: no ejabberd service' \
        'for a; do case "$a" in --*) ;; ejabberd|ejabberd.service) exit 101 ;; *) break ;; esac; done' \
        'exit 0' | as_root tee "$POLICY_RC_D" >/dev/null
      as_root chmod 755 "$POLICY_RC_D"
      own_policy=1
      trap 'as_root rm -f "$POLICY_RC_D"' EXIT
    fi
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}"
    if [ $own_policy = 1 ]; then
      as_root rm -f "$POLICY_RC_D"
      trap - EXIT
    fi
    # biboumi's service has no configuration (the tests write their own):
    # it would only fail at every boot.
    case " ${missing[*]} " in
      *" biboumi "*)
        if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
          as_root systemctl disable --now biboumi.service >/dev/null 2>&1 || true
        fi ;;
    esac
    if [ $new_ejabberd = 1 ]; then
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        as_root systemctl disable --now ejabberd.service >/dev/null 2>&1 || true
      elif [ -e /run/ejabberd/ejabberd.pid ] && command -v service >/dev/null 2>&1; then
        as_root service ejabberd stop >/dev/null 2>&1 || true
      fi
    fi
  fi
}

# The web clients (xmpp.js, strophe.js, stanza) the WebSocket/BOSH tests
# run, from npm, pinned by tests/web/package-lock.json, into
# tests/web/node_modules. Node and npm come from Debian (nodejs 18) unless
# the machine already has them (any Node >= 18 works). `npm ci` runs only
# when the lock file changed since the last install (a stamp in
# node_modules); install scripts are never run. Tests need no network.
WEB_DIR=tests/web
WEB_STAMP=$WEB_DIR/node_modules/.xmitm-lock.sha256

web_deps() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}"
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 18 ]; then
    echo "dev.sh: Node $(node --version) is too old for tests/web (18 or later)" >&2
    return 1
  fi
  local want have=""
  want=$(cat "$WEB_DIR/package-lock.json" "$WEB_DIR/package.json" | sha256sum | cut -d' ' -f1)
  [ -f "$WEB_STAMP" ] && have=$(cat "$WEB_STAMP")
  if [ "$want" != "$have" ]; then
    echo "dev.sh: installing the npm web clients (tests/web, npm ci)"
    (cd "$WEB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn)
    echo "$want" > "$WEB_STAMP"
  fi
}

# Only for `dev.sh fuzz`: the build packages and clang with its libFuzzer
# runtime (not needed by `dev.sh test`, which replays the corpora with gcc).
FUZZ_PACKAGES=(
  build-essential meson ninja-build pkg-config
  scdoc man-db
  libglib2.0-dev libssl-dev libexpat1-dev zlib1g-dev libpcap-dev libjson-glib-dev
  libsoup-3.0-dev clang libclang-rt-14-dev
)

# Longest input libFuzzer makes per target (tests/fuzz/fuzz-NAME.c).
declare -A FUZZ_MAX_LEN=(
  [xml-framer]=8192 [xml-scan]=8192 [sasl]=4096 [inflate]=32768 [observer]=16384
  [record-read]=16384 [pcap-read]=32768 [json-line]=8192 [plain-tree]=8192
  [ws-frame]=16384 [http-msg]=8192 [bosh]=16384 [event-index]=16384 [bosh-serve]=8192
  [grep-literal]=1024 [layer-bosh]=8192
)

fuzz_deps() {
  local missing=()
  for p in "${FUZZ_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "dev.sh: installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends "${missing[@]}"
  fi
}

# Targets run two at a time (FUZZ_JOBS), each at the lowest priority until
# it has used SECONDS of CPU time: libFuzzer's -max_total_time counts wall
# time, which on a busy machine says little about how hard a target was
# fuzzed. The corpus in the repository is read, never written. A one-minute
# time-out per input: libFuzzer measures wall time, and a process at nice 19
# on a busy machine (or one stopped for a while) is not a slow input.
fuzz_one() {
  local t=$1 secs=$2
  local new="build-fuzz/corpus-new/$t" crashes="build-fuzz/crashes/$t"
  local log="build-fuzz/fuzz-$t.log" tick
  tick=$(getconf CLK_TCK)
  mkdir -p "$new" "$crashes"
  nice -n 19 "build-fuzz/tests/fuzz/fuzz-$t" -max_total_time=$((secs * 100)) \
      -max_len="${FUZZ_MAX_LEN[$t]:-8192}" -timeout=60 -print_final_stats=1 \
      -dict=tests/fuzz/xmpp.dict -artifact_prefix="$crashes/" \
      "$new" "tests/fuzz/corpus/$t" 2> "$log" &
  local pid=$! used=0 rc=0 stopped=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    # utime + stime of the fuzzer and of its children it waited for
    # (fields 14 to 17 of /proc/PID/stat): LeakSanitizer checks run in a
    # cloned task, and for a target whose runs leave memory allocated
    # (json-line: json-glib's caches) they are most of its CPU.
    used=$(awk -v tick="$tick" '{ print int(($14 + $15 + $16 + $17) / tick) }' \
      "/proc/$pid/stat" 2>/dev/null || echo "$used")
    if [ "$used" -ge "$secs" ]; then
      kill -INT "$pid" 2>/dev/null || true
      stopped=1
      break
    fi
  done
  wait "$pid" || rc=$?
  # 72: libFuzzer's exit code when interrupted (SIGINT), here by us.
  if [ "$rc" -ne 0 ] && ! { [ "$rc" -eq 72 ] && [ "$stopped" -eq 1 ]; }; then
    echo "dev.sh: fuzz-$t FAILED after ${used}s of CPU"
    tail -n 40 "$log"
    echo failed > "build-fuzz/fuzz-$t.result"
    return 1
  fi
  echo ok > "build-fuzz/fuzz-$t.result"
  echo "dev.sh: fuzz-$t: ${used}s of CPU, $(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$') runs, no finding"
}

fuzz() {
  local secs=${1:-60} failed=() jobs=${FUZZ_JOBS:-2}
  [ $# -gt 0 ] && shift
  local targets=("$@")
  if [ ${#targets[@]} -eq 0 ]; then
    targets=(xml-framer xml-scan plain-tree sasl inflate observer record-read
             json-line pcap-read ws-frame http-msg bosh event-index
             bosh-serve grep-literal layer-bosh)
  fi
  fuzz_deps
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzzing=true -Dbuildtype=debugoptimized
  fi
  ninja -C build-fuzz
  for t in "${targets[@]}"; do
    echo "dev.sh: fuzzing $t for ${secs}s of CPU"
    rm -f "build-fuzz/fuzz-$t.result"
    fuzz_one "$t" "$secs" &
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  done
  wait
  for t in "${targets[@]}"; do
    [ "$(cat "build-fuzz/fuzz-$t.result" 2>/dev/null)" = ok ] || failed+=("$t")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "dev.sh: fuzzing found problems in: ${failed[*]} (inputs in build-fuzz/crashes/)"
    return 1
  fi
  echo "dev.sh: fuzzing done; new inputs in build-fuzz/corpus-new/ (docs/fuzzing.md)"
}

build() {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@"
  fi
  ninja -C "$dir"
}

run_tests() {
  local dir=$1; shift
  # The integration suites start real servers: run them one at a time on
  # a 2-core machine; unit tests run in parallel.
  meson test -C "$dir" --print-errorlogs --logbase unit --suite unit "$@"
  meson test -C "$dir" --print-errorlogs --logbase integration \
    --suite integration --num-processes 1 "$@"
}

case "${1:-}" in
  deps)
    deps
    web_deps ;;
  build)
    deps
    build build ;;
  demo)
    deps
    build build
    exec tests/integration/demo.sh "$top/build/cli/xmitm" ;;
  test)
    deps
    web_deps
    build build
    run_tests build
    # Same suite, other build: ASan + UBSan, any report fails the test.
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_tests build-asan
    echo "dev.sh: all tests passed (plain and sanitizer builds)" ;;
  fuzz)
    shift
    fuzz "$@" ;;
  *)
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
