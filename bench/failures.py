#!/usr/bin/env python3
"""What --failures costs the host: the connect()/close() rate on loopback with the check's
trace instance armed and without it, measured side by side (bench/README.md).

Armed, every TCP state change of the host runs the sock:inet_sock_set_state tracepoint and
its filter; a connection here makes six such changes (client CLOSE -> SYN_SENT ->
ESTABLISHED -> CLOSE, the server's accepted socket SYN_RECV -> ESTABLISHED -> CLOSE).

Root, in a private network namespace (the loop's sockets stay there):

    unshare -n python3 bench/failures.py dist/check_ephemeral_ports [ROUNDS [CONNECTIONS [fine]]]

Each round measures both modes, the order alternating (off/on, then on/off), so a drift of
the machine's load falls on both alike. The mode is set by the check itself: `--failures`
arms its instance, `--failures=off` removes it (it is removed at the end too). Each run
prints connections per second of wall time and per second of CPU time (user + system of
this process: the kernel's work of the loop is system time), and the ratio armed/off of
the pair. Python's own overhead is in both alike.

`fine`: the check arms its instance once, then each round switches only the instance's event
on and off (its `enable` file), which is all that arming changes for a connect(): many short
runs alternate quickly, so the machine's drift between the two halves of a pair is smaller.
"""
import json
import resource
import socket
import struct
import subprocess
import sys
import time


def set_mode(bundle, armed):
    arg = '--failures' if armed else '--failures=off'
    r = subprocess.run([bundle, arg, '--format', 'json', '--tcp'], capture_output=True, text=True)
    if r.returncode not in (0, 1, 2):
        raise RuntimeError(f'{arg}: exit {r.returncode}: {r.stdout}{r.stderr}')
    failures = json.loads(r.stdout).get('failures')
    counting = isinstance(failures, dict)
    if counting != armed:
        raise RuntimeError(f'{arg}: failures {failures!r}')


EVENT_ENABLE = '/sys/kernel/tracing/instances/check_ephemeral_ports/events/sock/inet_sock_set_state/enable'


def set_event(on):
    with open(EVENT_ENABLE, 'w') as f:
        f.write('1' if on else '0')


def loop(n):
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(128)
    target = listener.getsockname()
    linger = struct.pack('ii', 1, 0)
    wall = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(n):
        c = socket.socket()
        c.connect(target)
        s, _ = listener.accept()
        # A reset instead of a FIN: no TIME_WAIT, so the range never runs out.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        c.close()
        s.close()
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    listener.close()
    return n / wall, n / ((after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime))


def main():
    bundle = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    fine = len(sys.argv) > 4 and sys.argv[4] == 'fine'
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    loop(2000)  # warm-up
    results = []
    if fine:
        set_mode(bundle, True)
    try:
        for r in range(rounds):
            pair = {}
            for armed in ((False, True) if r % 2 == 0 else (True, False)):
                if fine:
                    set_event(armed)
                else:
                    set_mode(bundle, armed)
                pair['armed' if armed else 'off'] = loop(n)
            ratio_wall = pair['armed'][0] / pair['off'][0]
            ratio_cpu = pair['armed'][1] / pair['off'][1]
            results.append((ratio_wall, ratio_cpu))
            print(f"round {r + 1}: off {pair['off'][0]:,.0f}/s wall {pair['off'][1]:,.0f}/s cpu; "
                  f"armed {pair['armed'][0]:,.0f}/s wall {pair['armed'][1]:,.0f}/s cpu; "
                  f"armed/off {ratio_wall:.3f} wall {ratio_cpu:.3f} cpu", flush=True)
    finally:
        set_mode(bundle, False)
    walls = sorted(w for w, _ in results)
    cpus = sorted(c for _, c in results)
    q = len(cpus) // 4
    print(f'median armed/off over {rounds} rounds of {n} connections: {walls[len(walls) // 2]:.3f} wall, '
          f'{cpus[len(cpus) // 2]:.3f} cpu (quartiles {cpus[q]:.3f}-{cpus[-1 - q]:.3f})')


if __name__ == '__main__':
    main()
