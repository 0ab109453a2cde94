#!/usr/bin/env python3
"""A handful of real sockets of every kind the check reads, in a private namespace.

Run it inside `unshare -n` as root. It brings lo up, narrows the port range to 40000-40199
(40190-40199 reserved), builds the sockets, prints `ready`, and holds them until stdin
closes. Each line `fresh` on stdin adds TIME_WAIT sockets too young to be reused (on
tuples of their own, so connect() cannot recycle the old ones) and answers `fresh`: a
reader compares the sources right after. Loopback only.

No reader can be fast enough for a fixed reuse delay on a loaded machine: a TIME_WAIT made
by one `fresh` could turn reusable between two reads after the next one. So each `fresh`
sets tcp_tw_reuse_delay to the age of the old TIME_WAITs minus a second: those stay
reusable, and every fresh one stays young for at least OLD_AGE_S - 1 seconds after it.
Readers enter the namespace with `nsenter -t PID -n`.

  listeners in the range (IPv4, IPv6-only, dual-stack `*`, one on a reserved port) and
  outside it; clients from 127.0.0.2 and ::1 (IP_BIND_ADDRESS_NO_PORT), IPv4-mapped
  clients, clients bound to a device (ss prints `%lo`), an inbound connection to an
  in-range listener, CLOSE-WAIT, FIN-WAIT-2, SYN-SENT, TIME_WAIT old enough to be reused
  and fresh ones, UDP unconnected, connected, IPv4-mapped, dual-stack and reserved.
"""
import os
import socket
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # SOL_IP
LOW, HIGH = 40000, 40199
TW_REUSE_DELAY_MS = 3000
# How old the old TIME_WAITs are before the first `fresh` can come.
OLD_AGE_S = 10
keep = []


def sysctl(name, value):
    path = '/proc/sys/net/ipv4/' + name
    if os.path.exists(path):
        with open(path, 'w') as f:
            f.write(value)


def listener(family, addr, port, v6only=None, backlog=128):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port))
    s.listen(backlog)
    keep.append(s)
    return s


def client(family, dst, port, src=None, src_port=0, device=None):
    c = socket.socket(family, socket.SOCK_STREAM)
    if device:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    if src is not None:
        if src_port == 0 and family == socket.AF_INET:
            c.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        c.bind((src, src_port))
    c.connect((dst, port))
    keep.append(c)
    return c


def connection(server, family, dst, port, **kw):
    """A client and the socket its listener accepted for it."""
    c = client(family, dst, port, **kw)
    a, _ = server.accept()
    keep.append(a)
    return c, a


def time_wait(server, family, dst, port, src=None):
    """The client closes first, then the server: the client side ends in TIME_WAIT."""
    c, a = connection(server, family, dst, port, src=src)
    c.close()
    assert a.recv(1) == b''
    a.close()
    keep.remove(c)
    keep.remove(a)


def main():
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    sysctl('ip_local_port_range', f'{LOW} {HIGH}')
    sysctl('ip_local_reserved_ports', '40190-40199')
    sysctl('tcp_tw_reuse', '2')
    sysctl('tcp_tw_reuse_delay', str(TW_REUSE_DELAY_MS))

    v4, v6 = socket.AF_INET, socket.AF_INET6
    # Destinations outside the range.
    web = listener(v4, '127.0.0.1', 8080)
    web6 = listener(v6, '::1', 8443, v6only=1)
    dual = listener(v6, '::', 9000, v6only=0)
    tw = listener(v4, '127.0.0.1', 8081)
    tw6 = listener(v6, '::1', 8444, v6only=1)
    tw6_fresh = listener(v6, '::1', 8445, v6only=1)
    full = listener(v4, '127.0.0.1', 7000, backlog=0)
    # Listeners in the range: lost to every tuple; one on a reserved port, which never counts.
    inside = listener(v4, '127.0.0.1', 40010)
    listener(v6, '::1', 40011, v6only=1)
    listener(v6, '::', 40012, v6only=0)
    listener(v4, '0.0.0.0', 40195)

    # TIME_WAIT that is old enough to be reused when the check runs...
    for _ in range(3):
        time_wait(tw, v4, '127.0.0.1', 8081, src='127.0.0.5')
    time_wait(tw6, v6, '::1', 8444)
    old_made = time.monotonic()

    for _ in range(3):
        connection(web, v4, '127.0.0.1', 8080, src='127.0.0.2')
    for _ in range(2):
        connection(web6, v6, '::1', 8443)
    for _ in range(2):
        connection(dual, v6, '::ffff:127.0.0.1', 9000)  # IPv4-mapped: the IPv4 tuple
    connection(dual, v4, '127.0.0.1', 9000, src='127.0.0.2')
    connection(web, v4, '127.0.0.1', 8080, src='127.0.0.3', device='lo')
    connection(web6, v6, '::1', 8443, device='lo')
    connection(inside, v4, '127.0.0.1', 40010, src='127.0.0.9', src_port=30000)  # inbound
    c, a = connection(web, v4, '127.0.0.1', 8080, src='127.0.0.4')
    a.close()  # the client sits in CLOSE-WAIT
    c, a = connection(web, v4, '127.0.0.1', 8080, src='127.0.0.4')
    c.shutdown(socket.SHUT_WR)  # the client sits in FIN-WAIT-2
    # An accept queue that is full drops SYNs: the third client stays in SYN-SENT.
    for _ in range(3):
        s = socket.socket(v4, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', 7000))
        keep.append(s)

    # Fixed ports first: an autobound socket could otherwise take one of them by chance.
    udp = [
        (v6, ('::', 40050), None),
        (v4, ('127.0.0.1', 40191), None),
        (v4, ('127.0.0.1', 0), None),
        (v6, None, ('::1', 53)),
        (v6, None, ('::ffff:127.0.0.1', 53)),
        (v4, None, ('127.0.0.1', 53)),
    ]
    for family, bind, dst in udp:
        u = socket.socket(family, socket.SOCK_DGRAM)
        if bind:
            u.bind(bind)
        if dst:
            u.connect(dst)
        keep.append(u)

    time.sleep(max(0.0, old_made + OLD_AGE_S - time.monotonic()))
    print('ready', flush=True)
    for line in sys.stdin:
        if line.strip() == 'fresh':
            # ...and fresh TIME_WAIT that is not: the delay ends a second before the old
            # ones' age, so it is at least OLD_AGE_S - 1 for every fresh one (see above).
            old_age_ms = int((time.monotonic() - old_made) * 1000)
            sysctl('tcp_tw_reuse_delay', str(min(60000, old_age_ms - 1000)))
            for _ in range(2):
                time_wait(tw, v4, '127.0.0.1', 8081, src='127.0.0.6')
            time_wait(tw6_fresh, v6, '::1', 8445)
            time.sleep(0.2)  # FIN-WAIT-2 → TIME_WAIT needs the last ACK
            print('fresh', flush=True)


if __name__ == '__main__':
    main()
