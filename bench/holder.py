#!/usr/bin/env python3
"""Builds one share of a benchmark shape's connections on loopback and holds them.

  holder.py out INDEX COUNT PER_TUPLE
      COUNT connections from 127.0.0.1 to a listener of its own on 0.0.0.0:(1000 + INDEX),
      below the range, PER_TUPLE of them to each destination address 127.1.x.y: client
      ports from connect(), in the range; one tuple per destination address.
  holder.py in INDEX COUNT PORT
      COUNT connections to a listener at 127.0.2.INDEX:PORT from 127.0.3.INDEX, each client
      bound to its own port below the range (1024 upwards, so COUNT <= 8,900): with PORT in
      the range, the accepted side is in the range and the client side is not.

Both ends live in this process: two descriptors per connection, so COUNT stays under
half the open-file limit. Prints `ready COUNT` and holds everything until stdin closes
(or the benchmark kills it).
"""
import resource
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = 24  # SOL_IP
BATCH = 256


def destination(tuple_index):
    """127.1.0.0 upwards: every address of 127/8 is local, so any of them reaches us."""
    return f'127.{1 + (tuple_index >> 16)}.{(tuple_index >> 8) & 255}.{tuple_index & 255}'


def main():
    kind, index, count, arg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * count + 16 > hard:
        sys.exit(f'holder: {count} connections need {2 * count + 16} descriptors, the limit is {hard}')
    if kind == 'in' and count > 8900:
        sys.exit('holder: at most 8,900 inbound connections (client ports 1024-9923)')

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == 'out':
        per_tuple = arg
        port = 1000 + index
        server.bind(('0.0.0.0', port))
    else:
        port = arg
        server.bind((f'127.0.2.{index}', port))
    server.listen(4096)

    held = []  # descriptors only: socket objects would cost memory for nothing
    made = 0
    while made < count:
        batch = min(BATCH, count - made)
        for k in range(batch):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if kind == 'out':
                c.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                c.bind(('127.0.0.1', 0))
                c.connect((destination((made + k) // per_tuple), port))
            else:
                c.bind((f'127.0.3.{index}', 1024 + made + k))
                c.connect((f'127.0.2.{index}', port))
            held.append(c.detach())
        for _ in range(batch):
            a, _ = server.accept()
            held.append(a.detach())
        made += batch
    print(f'ready {made}', flush=True)
    sys.stdin.read()


if __name__ == '__main__':
    main()
