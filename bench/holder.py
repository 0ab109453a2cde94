#!/usr/bin/env python3
"""Builds one share of the benchmark's connections on loopback and holds them.

  holder.py out INDEX COUNT SOURCES   COUNT connections from 127.0.1.1..127.0.1.SOURCES
                                      (ports from connect(), in the range) to a listener
                                      of its own at 127.0.0.1:(10000 + INDEX)
  holder.py in INDEX COUNT            COUNT connections to a listener at 127.0.2.INDEX:443
                                      from 127.0.3.INDEX, each bound to a port below the
                                      range (1024 upwards)

Both ends live in this process: two descriptors per connection, so COUNT stays under
half the open-file limit. Prints `ready COUNT` and holds everything until stdin closes
(or the benchmark kills it).
"""
import resource
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = 24  # SOL_IP
BATCH = 256


def main():
    kind, index, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * count + 16 > hard:
        sys.exit(f'holder: {count} connections need {2 * count + 16} descriptors, the limit is {hard}')

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == 'out':
        sources = int(sys.argv[4])
        server.bind(('127.0.0.1', 10000 + index))
    else:
        server.bind((f'127.0.2.{index}', 443))
    server.listen(4096)

    held = []  # descriptors only: socket objects would cost memory for nothing
    made = 0
    while made < count:
        batch = min(BATCH, count - made)
        for k in range(batch):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if kind == 'out':
                c.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                c.bind((f'127.0.1.{1 + (made + k) % sources}', 0))
                c.connect(('127.0.0.1', 10000 + index))
            else:
                c.bind((f'127.0.3.{index}', 1024 + made + k))
                c.connect((f'127.0.2.{index}', 443))
            held.append(c.detach())
        for _ in range(batch):
            a, _ = server.accept()
            held.append(a.detach())
        made += batch
    print(f'ready {made}', flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
