#!/usr/bin/env bash
# xmitm's one entry point on a fresh Debian 12 machine.
#
#   scripts/dev.sh demo   install, build, and run a demo session: a throwaway
#                         prosody, two real XMPP clients talking through xmitm,
#                         the decoded session printed
#   scripts/dev.sh test   install, build, run the whole test suite (unit and
#                         integration with real peers), then again under
#                         AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/dev.sh deps   only install the Debian packages
#   scripts/dev.sh build  only build (into build/)
#
# Needs root or sudo for apt-get. Test traffic stays on loopback and in
# network namespaces the tests create and remove (transparent mode).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

# Everything xmitm builds with, and every real peer its tests start.
PACKAGES=(
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libssl-dev libexpat1-dev zlib1g-dev libpcap-dev libjson-glib-dev
  libcap-dev
  openssl prosody python3 python3-slixmpp tshark tcpdump
  ejabberd g++ libgloox-dev
  iptables nftables iproute2
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
    if [ $new_ejabberd = 1 ]; then
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        as_root systemctl disable --now ejabberd.service >/dev/null 2>&1 || true
      elif [ -e /run/ejabberd/ejabberd.pid ] && command -v service >/dev/null 2>&1; then
        as_root service ejabberd stop >/dev/null 2>&1 || true
      fi
    fi
  fi
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
    deps ;;
  build)
    deps
    build build ;;
  demo)
    deps
    build build
    exec tests/integration/demo.sh "$top/build/proxy/xmitm" ;;
  test)
    deps
    build build
    run_tests build
    # Same suite, other build: ASan + UBSan, any report fails the test.
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      run_tests build-asan
    echo "dev.sh: all tests passed (plain and sanitizer builds)" ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
