#!/usr/bin/env python3
"""The zsh completion (completion/_xmitm) in zsh itself (issue 23).

zsh completes only inside its line editor, so this drives a real
interactive zsh on a pseudo-terminal: compinit with the completion's
directory first in $fpath, TAB bound to a widget that runs the ordinary
complete-word and then prints what was offered. What was offered is caught
by a `compadd` function in front of the builtin (the completion system
calls compadd for every candidate): it asks the builtin for the candidates
that match what is typed (-A) and adds them as usual. Then, as for bash:
sample lines, and every command's options against `xmitm CMD --help`.

Usage: test_completion_zsh.py COMPLETION_DIR   (the program: $XMITM)
"""
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_completion import compare_offered  # noqa: E402
from test_man import help_commands, help_option_names, run  # noqa: E402

SETUP = r"""
setopt interactive_comments
bindkey -e
PS1='' RPS1='' PS2=''
unsetopt auto_list list_ambiguous list_beep beep auto_menu
fpath=(%(dir)s $fpath)
autoload -Uz compinit && compinit -u -D
typeset -ga xm_hits
compadd() {
  # calls that only ask (-O, -A, -D) pass through untouched
  local xm_a
  for xm_a in "$@"; do
    case $xm_a in
      (-|--) break ;;
      (-[[:alpha:]]#[OAD]*) builtin compadd "$@"; return ;;
    esac
  done
  local -a xm_h
  builtin compadd -A xm_h "$@"
  xm_hits+=("${xm_h[@]}")
  builtin compadd "$@"
}
typeset -gi xm_n=0
xm-capture() {
  xm_hits=()
  (( xm_n++ ))
  local typed=$BUFFER
  zle complete-word
  print -rl -- "@@""BEGIN $xm_n" "@@B:$typed" "${(@)xm_hits/#/@@M:}" "@@""END $xm_n"
  # An empty line for the next one, from here: a ^U sent later could reach
  # the terminal while it is not in zle's raw mode and be taken as its
  # line-kill character.
  BUFFER= CURSOR=0
}
zle -N xm-capture
bindkey '^I' xm-capture
print READY$((6*7))
"""


class Zsh:
    """An interactive zsh on a pseudo-terminal."""

    def __init__(self, completion_dir, cwd):
        env = dict(os.environ, TERM='vt100', HOME=cwd, LC_ALL='C.UTF-8')
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execvpe('zsh', ['zsh', '-f', '-i'], env)
        self.buf = b''
        self.n = 0
        # a screen of its own size, so that zle never wraps or pages
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
        os.write(self.fd, (SETUP % {'dir': completion_dir}).encode())
        self.read_until(b'READY42')
        self.buf = b''

    def read_until(self, marker, timeout=30):
        end = time.monotonic() + timeout
        while marker not in self.buf:
            left = end - time.monotonic()
            r, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not r:
                sys.exit(f'zsh: no {marker!r} within {timeout} s; it said:\n'
                         + self.buf.decode(errors='replace'))
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                sys.exit('zsh exited; it said:\n' + self.buf.decode(errors='replace'))
            self.buf += chunk
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors='replace')

    def complete(self, line):
        """What TAB offers after LINE (the cursor at its end), sorted."""
        self.n += 1
        os.write(self.fd, line.encode() + b'\t')
        out = self.read_until(b'@@END %d\r' % self.n)
        out = out[out.rindex('@@BEGIN %d\r' % self.n):]
        got = re.findall(r'@@M:([^\r\n]*)', out)
        typed = re.findall(r'@@B:([^\r\n]*)', out)
        if typed != [line]:
            sys.exit(f'zsh completed {typed!r}, not {line!r}')
        return sorted(set(got))

    def close(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def main():
    xmitm = os.environ['XMITM']
    completion_dir = os.path.abspath(sys.argv[1])
    if shutil.which('zsh') is None:
        print('FAIL: zsh not found: apt-get install zsh (scripts/dev.sh deps)')
        return 1
    failures = []
    d = tempfile.mkdtemp(prefix='xmitm-completion-zsh-')
    for name in ('session.jsonl', 'second.jsonl', 'capture.pcap'):
        open(os.path.join(d, name), 'w').close()
    zsh = Zsh(completion_dir, d)

    def expect(line, want):
        got = zsh.complete(line)
        if got != sorted(want):
            failures.append(f'{line!r}: got {got}, want {sorted(want)}')
        else:
            print(f'ok: {line!r} -> {got}')

    files = ['capture.pcap', 'second.jsonl', 'session.jsonl']
    cmds = help_commands(xmitm)
    try:
        expect('xmitm ', cmds)
        expect('xmitm -', ['--help', '--version'])
        expect('xmitm pro', ['proxy'])
        expect('xmitm re', ['replay'])
        expect('xmitm show --ki', ['--kind'])
        expect('xmitm show --kind ', ['message', 'presence', 'iq', 'stream'])
        expect('xmitm proxy --dir s', ['s2c', 'server'])
        expect('xmitm proxy --color=', ['auto', 'always', 'never'])
        expect('xmitm show --color=al', ['always'])
        expect('xmitm replay --tls d', ['direct'])
        expect('xmitm replay --pace ', ['iq', 'recorded', 'fast'])
        expect('xmitm replay --transport w', ['ws'])
        expect('xmitm proxy --listen ', [])
        expect('xmitm proxy --upstream ', [])
        expect('xmitm ca ', ['path', 'export'])
        expect('xmitm show ', files)
        expect('xmitm show s', ['second.jsonl', 'session.jsonl'])
        expect('xmitm proxy --record s', ['second.jsonl', 'session.jsonl'])
        expect('xmitm proxy -w c', ['capture.pcap'])
        expect('xmitm replay --junit=c', ['capture.pcap'])
        expect('xmitm replay session.jsonl --se', ['--serve', '--server'])
        expect('xmitm export --pcap out.pcap s', ['second.jsonl', 'session.jsonl'])

        # Every command's options, both ways: completion against --help.
        for cmd in cmds:
            if cmd == 'version':
                continue
            text = run(xmitm, cmd, '--help')
            in_help = help_option_names(text)
            # "--listen=" for options that take a value; "-l" and "--utc" not
            offered = {o.rstrip('=') for o in zsh.complete(f'xmitm {cmd} -')}
            compare_offered(cmd, in_help, offered, failures)
            print(f'ok: xmitm {cmd}: {len(in_help)} options checked')
    finally:
        zsh.close()
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
    for f in failures:
        print('FAIL:', f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
