#!/usr/bin/env python3
"""The bash completion (completion/xmitm.bash) in bash itself (issue 23).

Runs _xmitm on sample command lines, as bash would call it, and checks
COMPREPLY; and checks that the options it offers for each command are
exactly those `xmitm CMD --help` lists, the ones that take a value included.

Usage: test_completion.py COMPLETION_FILE   (the program: $XMITM)
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_man import help_commands, help_option_names, run  # noqa: E402



def complete(script, line, cwd=None):
    """COMPREPLY for LINE, the cursor at its end."""
    words = []
    for w in line.split(' '):
        # bash splits "--color=al" at COMP_WORDBREAKS' '='
        if w.startswith('--') and '=' in w:
            opt, val = w.split('=', 1)
            words += [opt, '=', val] if val else [opt, '=']
        else:
            words.append(w)
    if line.endswith(' '):
        words[-1:] = ['']
    quoted = ' '.join("'" + w.replace("'", "'\\''") + "'" for w in words)
    prog = (f'source {script}\nCOMP_WORDS=({quoted})\n'
            f'COMP_CWORD={len(words) - 1}\nCOMP_LINE={line!r}\n'
            '_xmitm xmitm\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    p = subprocess.run(['bash', '--norc', '--noprofile', '-c', prog],
                       capture_output=True, text=True, timeout=30, cwd=cwd)
    if p.returncode != 0 or p.stderr:
        sys.exit(f'bash on {line!r}: exit {p.returncode}: {p.stderr}')
    return sorted(x for x in p.stdout.split('\n') if x)


def compare_offered(cmd, in_help, offered, failures):
    """What a shell offers after `xmitm CMD -` against --help, both ways."""
    if in_help - offered:
        failures.append(f'xmitm {cmd} -<TAB> misses {sorted(in_help - offered)} (in --help)')
    if offered - in_help:
        failures.append(f'xmitm {cmd} -<TAB> offers {sorted(offered - in_help)}, not in --help')


def help_value_options(text):
    """The long options of --help that take a value (--listen=ADDR:PORT)."""
    out = set()
    for line in text.splitlines():
        first = line.strip().split('  ')[0].split(', ')[-1]
        if first.startswith('--') and '=' in first:
            out.add(first.split('=')[0])
    return out


def script_value_options(script, cmd):
    """The options _xmitm_options marks as taking a value (a trailing =)."""
    p = subprocess.run(['bash', '--norc', '--noprofile', '-c',
                        f'source {script}; _xmitm_options {cmd}'],
                       capture_output=True, text=True, timeout=30)
    return {o[:-1] for o in p.stdout.split() if o.endswith('=')}


def main():
    xmitm = os.environ['XMITM']
    script = os.path.abspath(sys.argv[1])
    failures = []
    d = tempfile.mkdtemp(prefix='xmitm-completion-')
    for name in ('session.jsonl', 'second.jsonl', 'capture.pcap'):
        open(os.path.join(d, name), 'w').close()

    def expect(line, want):
        got = complete(script, line, cwd=d)
        if got != sorted(want):
            failures.append(f'{line!r}: got {got}, want {sorted(want)}')
        else:
            print(f'ok: {line!r} -> {got}')

    cmds = help_commands(xmitm)
    expect('xmitm ', cmds + ['--help', '--version'])
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
    # show has no --tls: it is taken for a flag, and a file comes next
    expect('xmitm show --tls ', ['capture.pcap', 'second.jsonl', 'session.jsonl'])
    expect('xmitm proxy --listen ', [])
    expect('xmitm ca ', ['path', 'export'])
    expect(f'xmitm proxy --record {d}/s', [f'{d}/second.jsonl', f'{d}/session.jsonl'])
    expect(f'xmitm proxy -w {d}/c', [f'{d}/capture.pcap'])
    expect(f'xmitm replay --junit={d}/c', [f'{d}/capture.pcap'])
    expect(f'xmitm show {d}/', [f'{d}/{n}' for n in ('capture.pcap', 'second.jsonl', 'session.jsonl')])

    # Every command's options, both ways: completion against --help.
    for cmd in cmds:
        if cmd == 'version':
            continue
        text = run(xmitm, cmd, '--help')
        in_help = help_option_names(text)
        offered = set(complete(script, f'xmitm {cmd} -'))
        compare_offered(cmd, in_help, offered, failures)
        want, got = help_value_options(text), script_value_options(script, cmd)
        if want != got:
            failures.append(f'xmitm {cmd}: options that take a value: --help has '
                            f'{sorted(want - got)} more, the completion {sorted(got - want)}')
        print(f'ok: xmitm {cmd}: {len(in_help)} options checked')

    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)
    for f in failures:
        print('FAIL:', f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
