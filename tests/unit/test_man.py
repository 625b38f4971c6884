#!/usr/bin/env python3
"""The man pages against the program (issue 23).

For every command of `xmitm --help`: its page (docs/man/xmitm-CMD.1.scd)
documents exactly the options `xmitm CMD --help` lists, short forms
included, and xmitm.1 lists exactly the commands. Each built page renders
with `man -l` without a warning.

Usage: test_man.py SCD_DIR PAGE...   (the program: $XMITM)
"""
import os
import re
import shutil
import subprocess
import sys

# "  -l, --listen=ADDR:PORT  ..." or "  --utc  ..." in an "... Options:" section
HELP_OPT = re.compile(r'^\s+(?:(-\w), )?(--[a-z0-9-]+)')
# "*-l*, *--listen*=_ADDR:PORT_" or "*--utc*" at the start of a line
PAGE_OPT = re.compile(r'^\*(?:(-\w)\*, \*)?(--[a-z0-9-]+)\*')
# "*proxy*" alone on a line, in COMMANDS
PAGE_CMD = re.compile(r'^\*([a-z]+)\*$')


def run(*args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        sys.exit(f'{" ".join(args)}: exit {p.returncode}: {p.stderr.strip()}')
    return p.stdout


def help_commands(xmitm):
    cmds, inside = [], False
    for line in run(xmitm, '--help').splitlines():
        if line == 'Commands:':
            inside = True
        elif inside and line.startswith('  '):
            cmds.append(line.split()[0])
        elif inside:
            break
    return cmds


def help_options(text):
    """(short or None, long) pairs of the "Options:" sections."""
    opts, section = set(), ''
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = line
        elif section.endswith('Options:'):
            m = HELP_OPT.match(line)
            if m:
                opts.add((m.group(1), m.group(2)))
    return opts


def help_option_names(text):
    """Every option name --help lists, long and short."""
    names = set()
    for short, long in help_options(text):
        names.add(long)
        if short:
            names.add(short)
    return names


def page_section(path, title):
    """The lines of "# TITLE" in an scdoc page, its "## " parts included."""
    lines, inside = [], False
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('# '):
                inside = line.strip() == '# ' + title
            elif inside:
                lines.append(line.rstrip('\n'))
    return lines


def page_options(path):
    opts = set()
    for line in page_section(path, 'OPTIONS'):
        m = PAGE_OPT.match(line)
        if m:
            opts.add((m.group(1), m.group(2)))
    return opts


def show(opts):
    return ', '.join(f'{s}, {l}' if s else l for s, l in sorted(opts, key=lambda o: o[1]))


def main():
    xmitm = os.environ['XMITM']
    scd_dir, pages = sys.argv[1], sys.argv[2:]
    failures = []

    cmds = help_commands(xmitm)
    if not cmds:
        failures.append('xmitm --help lists no commands')
    listed = {m.group(1) for line in page_section(os.path.join(scd_dir, 'xmitm.1.scd'), 'COMMANDS')
              for m in [PAGE_CMD.match(line)] if m}
    for c in sorted(set(cmds) - listed):
        failures.append(f'xmitm.1: command {c} (in xmitm --help) is not in COMMANDS')
    for c in sorted(listed - set(cmds)):
        failures.append(f'xmitm.1: COMMANDS has {c}, which xmitm --help does not list')

    for cmd in cmds:
        if cmd == 'version':  # no options, no page: xmitm.1 has it
            continue
        page = os.path.join(scd_dir, f'xmitm-{cmd}.1.scd')
        if not os.path.exists(page):
            failures.append(f'xmitm {cmd}: no page {page}')
            continue
        in_help = help_options(run(xmitm, cmd, '--help'))
        in_page = page_options(page)
        if len(in_help) < 2:
            failures.append(f'xmitm {cmd} --help: found no options (format changed?)')
        if in_help - in_page:
            failures.append(f'xmitm-{cmd}.1.scd misses {show(in_help - in_page)} '
                            f'(listed by xmitm {cmd} --help)')
        if in_page - in_help:
            failures.append(f'xmitm-{cmd}.1.scd documents {show(in_page - in_help)}, '
                            f'which xmitm {cmd} --help does not list')
        print(f'ok: xmitm {cmd}: {len(in_help)} options, page agrees'
              if not (in_help ^ in_page) else f'not ok: xmitm {cmd}')

    man = shutil.which('man')
    if man is None:
        failures.append('man not found: install man-db (scripts/dev.sh deps)')
    else:
        for built in pages:
            p = subprocess.run([man, '-l', '--warnings', built], capture_output=True,
                               text=True, timeout=60,
                               env=dict(os.environ, MANWIDTH='80'))
            name = os.path.basename(built)
            if p.returncode != 0 or p.stderr.strip():
                failures.append(f'man -l {name}: exit {p.returncode}: {p.stderr.strip()}')
            elif 'NAME' not in p.stdout:
                failures.append(f'man -l {name}: no NAME section in the rendered page')
            else:
                print(f'ok: man -l {name} renders without warnings')

    for f in failures:
        print('FAIL:', f)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
