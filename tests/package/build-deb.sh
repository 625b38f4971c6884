#!/usr/bin/env bash
# Builds xmitm's Debian package from a clean clone of this tree, checks it
# with lintian (any error fails), installs it, checks that `xmitm --help`,
# `man xmitm-proxy` and the bash, zsh and fish completions answer, and removes it again.
# Not part of `meson test` (it installs into /usr and takes minutes): run
# it by hand or in a release job, as root on Debian 12:
#
#   tests/package/build-deb.sh
#
# It installs the packaging tools it needs (debhelper, lintian, fakeroot).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/xmitm-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends debhelper lintian fakeroot >/dev/null
git clone -q "$top" "$work/xmitm"
cd "$work/xmitm"
# the build-dependencies debian/control names (the packages dev.sh installs)
as_root env DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q "$PWD" >/dev/null
dpkg-buildpackage -us -uc -b
cd "$work"
# errors fail the build; warnings and notes are shown
lintian --fail-on error --tag-display-limit 0 xmitm_*_amd64.changes
as_root dpkg -i xmitm_*_amd64.deb
trap 'as_root dpkg -r xmitm >/dev/null || true; rm -rf "$work"' EXIT
xmitm --help | grep -q 'proxy'
man -P cat xmitm-proxy | grep -q -- '--upstream'
bash -c 'source /usr/share/bash-completion/bash_completion 2>/dev/null;
         source /usr/share/bash-completion/completions/xmitm;
         COMP_WORDS=(xmitm pro); COMP_CWORD=1; COMP_LINE="xmitm pro"; COMP_POINT=9; _xmitm;
         printf "%s\n" "${COMPREPLY[@]}"' | grep -qx proxy
# zsh and fish find theirs where the package put them
zsh -fc 'autoload -Uz compinit && compinit -u -D && (( ${+_comps[xmitm]} ))'
# (an empty HOME, not --no-config: that also drops the vendor completion
# directories, and then fish offers files, a proxy/ directory included)
(cd "$work" && HOME=$work XDG_CONFIG_HOME=$work/.config fish -c 'complete -C "xmitm pro"') \
  | grep -q '^proxy	'
echo "build-deb.sh: the package builds, passes lintian, installs and answers"
