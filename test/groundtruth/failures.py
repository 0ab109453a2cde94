#!/usr/bin/env python3
"""Ground truth for --failures: connect()s that fail, or not, in a private namespace.

Test tooling only (Python 3 standard library). Run as root in a fresh network namespace:

    unshare -n python3 failures.py < scenario.json

Scenario: {"range": [40000, 40003], "steps": [step, ...]}. Steps:
  {"op": "fail", "local": A, "remote": B, "port": P, "n": N, "mapped": false}
      a listener on B:P, connect()s from A (IP_BIND_ADDRESS_NO_PORT) until the range is
      used up for the tuple, then N more, each of which must fail with EADDRNOTAVAIL.
      "mapped": AF_INET6 sockets to ::ffff:B from ::ffff:A (IPv4 addresses only).
  {"op": "refused", "local": A, "remote": B, "port": P, "n": N}: nothing listens; ECONNREFUSED.
  {"op": "timeout", "local": A, "remote": B, "port": P, "n": N}: a listener whose accept queue
      is full drops the SYNs; each connect() gives up after its first retransmission
      (TCP_SYNCNT 1, TCP_USER_TIMEOUT 200 ms): ETIMEDOUT, about a second each (run together).
  {"op": "closedInSyn", "local": A, "remote": B, "port": P, "n": N}: the same full queue; each
      socket is closed while in SYN_SENT.
Addresses outside 127/8 (fd27::/64 for IPv6) are added to lo first. Prints
{"results": [{"op", "failed": EADDRNOTAVAIL count, "other": {errno name: count}}]}; the
namespace, and every socket in it, ends with the process.
"""
import errno
import json
import os
import select
import socket
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24
TCP_USER_TIMEOUT = 18
TCP_SYNCNT = 7

held = []
added = set()
listening = set()


def family_of(address):
    return socket.AF_INET6 if ':' in address else socket.AF_INET


def add_address(address):
    if address in added or address.startswith('127.') or address == '::1':
        return
    subprocess.run(['ip', 'addr', 'add', address + ('/128' if ':' in address else '/32'), 'dev', 'lo', 'nodad'], check=True)
    added.add(address)


def listener(address, port, backlog=64):
    if (address, port) in listening:
        return
    listening.add((address, port))
    add_address(address)
    s = socket.socket(family_of(address), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(backlog)
    held.append(s)


def client(local, mapped):
    add_address(local)
    if mapped:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind(('::ffff:' + local, 0))
    else:
        s = socket.socket(family_of(local), socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((local, 0))
    return s


def tally(other, err):
    name = errno.errorcode.get(err.errno, str(err.errno))
    other[name] = other.get(name, 0) + 1


def fail(step):
    local, remote, port, mapped = step['local'], step['remote'], step['port'], step.get('mapped', False)
    listener(remote, port)
    target = ('::ffff:' + remote if mapped else remote, port)
    other = {}
    # Use the range up for this tuple.
    while True:
        s = client(local, mapped)
        try:
            s.connect(target)
            held.append(s)
        except OSError as err:
            s.close()
            if err.errno != errno.EADDRNOTAVAIL:
                raise
            break
    failed = 1
    for _ in range(step['n'] - 1):
        s = client(local, mapped)
        try:
            s.connect(target)
            held.append(s)
        except OSError as err:
            if err.errno == errno.EADDRNOTAVAIL:
                failed += 1
            else:
                tally(other, err)
        finally:
            if s not in held:
                s.close()
    return {'op': 'fail', 'failed': failed, 'other': other}


def refused(step):
    other = {}
    for _ in range(step['n']):
        s = client(step['local'], False)
        try:
            s.connect((step['remote'], step['port']))
            raise RuntimeError('connected where nothing listens')
        except OSError as err:
            tally(other, err)
        s.close()
    return {'op': 'refused', 'failed': other.get('EADDRNOTAVAIL', 0), 'other': other}


def full_queue(remote, port):
    """A listener that never accepts, its queue filled: further SYNs are dropped."""
    listener(remote, port, 0)
    for _ in range(2):
        s = socket.socket(family_of(remote), socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((remote, port))
        held.append(s)
    time.sleep(0.2)


def syn_sent(step, user_timeout):
    sockets = []
    for _ in range(step['n']):
        s = client(step['local'], False)
        if user_timeout:
            s.setsockopt(socket.IPPROTO_TCP, TCP_SYNCNT, 1)
            s.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 200)
        s.setblocking(False)
        code = s.connect_ex((step['remote'], step['port']))
        if code != errno.EINPROGRESS:
            raise RuntimeError(f'connect: {errno.errorcode.get(code, code)}')
        sockets.append(s)
    return sockets


def timeout(step):
    full_queue(step['remote'], step['port'])
    sockets = syn_sent(step, True)
    other = {}
    for s in sockets:
        select.select([], [s], [], 30)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        tally(other, OSError(err, os.strerror(err)) if err else OSError(0, 'connected'))
        s.close()
    return {'op': 'timeout', 'failed': other.get('EADDRNOTAVAIL', 0), 'other': other}


def closed_in_syn(step):
    full_queue(step['remote'], step['port'])
    sockets = syn_sent(step, False)
    for s in sockets:
        s.close()
    return {'op': 'closedInSyn', 'failed': 0, 'other': {'closed': len(sockets)}}


def main():
    scenario = json.load(sys.stdin)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    low, high = scenario.get('range', [40000, 40003])
    with open('/proc/sys/net/ipv4/ip_local_port_range', 'w') as f:
        f.write(f'{low} {high}')
    ops = {'fail': fail, 'refused': refused, 'timeout': timeout, 'closedInSyn': closed_in_syn}
    results = [ops[step['op']](step) for step in scenario['steps']]
    print(json.dumps({'results': results}))


if __name__ == '__main__':
    main()
