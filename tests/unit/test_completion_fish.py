#!/usr/bin/env python3
"""The fish completion (completion/xmitm.fish) in fish itself (issue 23).

fish answers `complete -C LINE` with what TAB would offer after LINE, one
candidate a line (then a tab and its description): sample lines, and every
command's options against `xmitm CMD --help`, as for bash and zsh.

Usage: test_completion_fish.py COMPLETION_FILE   (the program: $XMITM)
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_completion import compare_offered  # noqa: E402
from test_man import help_commands, help_option_names, run  # noqa: E402


def complete(script, line, cwd):
    """The candidates for LINE (the cursor at its end), sorted."""
    # fish writes to $HOME (history, universal variables): next to cwd, not ~
    home = os.path.join(os.path.dirname(cwd), 'home')
    quoted = line.replace('\\', '\\\\').replace("'", "\\'")
    p = subprocess.run(['fish', '--no-config', '-c',
                        f"source '{script}'; complete -C '{quoted}'"],
                       capture_output=True, text=True, timeout=30, cwd=cwd,
                       env=dict(os.environ, HOME=home, XDG_CONFIG_HOME=home,
                                XDG_DATA_HOME=home))
    if p.returncode != 0 or p.stderr:
        sys.exit(f'fish on {line!r}: exit {p.returncode}: {p.stderr}')
    return sorted({x.split('\t')[0] for x in p.stdout.split('\n') if x})


def main():
    xmitm = os.environ['XMITM']
    script = os.path.abspath(sys.argv[1])
    if shutil.which('fish') is None:
        print('FAIL: fish not found: apt-get install fish (scripts/dev.sh deps)')
        return 1
    failures = []
    top = tempfile.mkdtemp(prefix='xmitm-completion-fish-')
    d = os.path.join(top, 'files')
    os.makedirs(d)
    for name in ('session.jsonl', 'second.jsonl', 'capture.pcap'):
        open(os.path.join(d, name), 'w').close()

    def expect(line, want):
        got = complete(script, line, d)
        if got != sorted(want):
            failures.append(f'{line!r}: got {got}, want {sorted(want)}')
        else:
            print(f'ok: {line!r} -> {got}')

    files = ['capture.pcap', 'second.jsonl', 'session.jsonl']
    cmds = help_commands(xmitm)
    expect('xmitm ', cmds)
    expect('xmitm --', ['--help', '--version'])
    expect('xmitm pro', ['proxy'])
    expect('xmitm re', ['replay'])
    expect('xmitm show --ki', ['--kind'])
    expect('xmitm show --kind ', ['message', 'presence', 'iq', 'stream'])
    expect('xmitm proxy --dir s', ['s2c', 'server'])
    expect('xmitm proxy --color=', ['--color=auto', '--color=always', '--color=never'])
    expect('xmitm show --color=al', ['--color=always'])
    expect('xmitm replay --tls d', ['direct'])
    expect('xmitm replay --pace ', ['iq', 'recorded', 'fast'])
    expect('xmitm replay --transport w', ['ws'])
    expect('xmitm proxy --listen ', [])
    expect('xmitm proxy --upstream ', [])
    expect('xmitm proxy ', [])
    expect('xmitm ca ', ['path', 'export'])
    expect('xmitm show ', files)
    expect('xmitm replay s', ['second.jsonl', 'session.jsonl'])
    expect('xmitm proxy --record s', ['second.jsonl', 'session.jsonl'])
    expect('xmitm proxy -w c', ['capture.pcap'])
    expect('xmitm replay --junit=c', ['--junit=capture.pcap'])
    expect('xmitm export --pcap out.pcap s', ['second.jsonl', 'session.jsonl'])

    # Every command's options, both ways: completion against --help.
    for cmd in cmds:
        if cmd == 'version':
            continue
        text = run(xmitm, cmd, '--help')
        in_help = help_option_names(text)
        offered = set(complete(script, f'xmitm {cmd} -', d))
        compare_offered(cmd, in_help, offered, failures)
        print(f'ok: xmitm {cmd}: {len(in_help)} options checked')

    shutil.rmtree(top)  # with what fish wrote in its $HOME
    for f in failures:
        print('FAIL:', f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
