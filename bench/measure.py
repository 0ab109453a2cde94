#!/usr/bin/env python3
"""Runs one command (argv after `--`, stdout to /dev/null) and prints, as JSON, its wall
time, its CPU time (user + system, and each apart; its children's included: the check's
ss too), its
minor page faults (children's included: on a shared VM the steadiest figure of the work
done, where a first touch of a page costs tens of µs) and peak RSS: the largest resident
set of the process and of the children it waited for, from wait4(). CPU time is the
steadier figure on a shared machine: others' load stretches wall time far more than the
work done.

The kernel counts a forked child's memory before exec() in that peak, so the command is
started through GNU time (a small program) when it is there, and its report is used:
otherwise Python's own ~13 MiB would be the floor of every figure. Python's start-up is
not timed; GNU time adds about a millisecond to every command alike.

Every command runs with a minimal environment (PATH alone), as a monitoring agent runs a
plugin: a login shell's variables can cost node dearly (NODE_EXTRA_CA_CERTS makes every
node start read and parse a certificate bundle: tens of milliseconds, more under load).
"""
import json
import os
import shutil
import sys
import tempfile
import time

ENVIRONMENT = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}


def main():
    argv = sys.argv[sys.argv.index('--') + 1:]
    gnu_time = shutil.which('time', path='/usr/bin:/bin')
    report = None
    if gnu_time:
        fd, report = tempfile.mkstemp(prefix='bench-rss-')
        os.close(fd)
        argv = [gnu_time, '-f', '%M %R', '-o', report, '--', *argv]
    devnull = os.open(os.devnull, os.O_WRONLY)
    started = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, ENVIRONMENT, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    max_rss = usage.ru_maxrss
    minor_faults = usage.ru_minflt
    if report:
        with open(report) as f:
            fields = f.read().split()
        os.unlink(report)
        max_rss, minor_faults = int(fields[-2]), int(fields[-1])
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000  # the command and the children it waited for
    print(json.dumps({'wallMs': wall * 1000, 'cpuMs': cpu_ms, 'userMs': usage.ru_utime * 1000, 'kernelMs': usage.ru_stime * 1000, 'maxRssKiB': max_rss, 'minorFaults': minor_faults, 'exit': os.waitstatus_to_exitcode(status), 'rssFrom': 'GNU time' if report else 'wait4'}))


if __name__ == '__main__':
    main()
