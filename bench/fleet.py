#!/usr/bin/env python3
"""Fills many network namespaces with connections from one process, and holds them.

  fleet.py PID:CONNECTIONS[:LOW-HIGH] ...

For each PID (a process alone in a network namespace of its own, such as `unshare -n sleep
infinity`), enters its namespace (setns: the sockets made then belong to it), brings its
loopback up, sets its ip_local_port_range to LOW-HIGH when given (/proc/sys answers for the
namespace of the writer), and makes CONNECTIONS connections from 127.0.0.1 to a listener of
its own on 127.0.0.1:1000, below any range: one tuple, client ports chosen by connect().
Both ends are held here: 2 x CONNECTIONS + 1 sockets per namespace, as a pod with that many
connections to one service would show them. One holder for every namespace keeps a node of
500 pods within memory (a Python process each would take gigabytes); the benchmark starts
one per 18,000 sockets (the open-file limit). Prints `ready N`
(sockets made) and holds everything until stdin closes.
"""
import ctypes
import fcntl
import os
import resource
import socket
import struct
import sys

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
LISTENER_PORT = 1000

libc = ctypes.CDLL(None, use_errno=True)


def enter(pid):
    fd = os.open(f'/proc/{pid}/ns/net', os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns into the namespace of pid {pid}')
    finally:
        os.close(fd)


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack('16sH14x', b'lo', 0)
        flags = struct.unpack('16sH14x', fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack('16sH14x', b'lo', flags | IFF_UP))


def fill(connections, held):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(('127.0.0.1', LISTENER_PORT))
    server.listen(4096)
    made = 0
    while made < connections:
        batch = min(256, connections - made)
        for _ in range(batch):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.connect(('127.0.0.1', LISTENER_PORT))
            held.append(c.detach())
        for _ in range(batch):
            a, _ = server.accept()
            held.append(a.detach())
        made += batch
    held.append(server.detach())


def main():
    shares = []
    for arg in sys.argv[1:]:
        fields = arg.split(':')
        port_range = tuple(int(p) for p in fields[2].split('-')) if len(fields) > 2 else None
        shares.append((int(fields[0]), int(fields[1]), port_range))
    needed = sum(2 * c + 1 for _, c, _ in shares) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if needed > hard:
        sys.exit(f'fleet: {needed} descriptors needed, the limit is {hard}: give fewer namespaces to each fleet.py')
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    for pid, connections, port_range in shares:
        enter(pid)
        loopback_up()
        if port_range is not None:
            with open('/proc/sys/net/ipv4/ip_local_port_range', 'w') as f:
                f.write(f'{port_range[0]} {port_range[1]}\n')
        fill(connections, held)
    print(f'ready {len(held)}', flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
