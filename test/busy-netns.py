#!/usr/bin/env python3
"""Runs a command in a namespace busy enough that --source auto starts ss.

  busy-netns.py COUNT COMMAND [ARGS...]
  busy-netns.py OUT/IN COMMAND [ARGS...]

Run it in a private network namespace (unshare -n): it brings up lo, holds COUNT TCP
listeners on 127.0.0.1 ports 2000 upwards (below every range the tests set), so the
namespace's sockstat counts that many sockets; or OUT connections with both ends below
the range (a server's inbound ones: 2 * OUT sockets) and IN from ports connect() picks in
the range, all to a listener on 127.0.0.1:1999. Then it runs COMMAND with its stdout and
stderr, forwards SIGTERM and SIGINT to it, and exits with its status. The listeners are
not inherited by COMMAND.
"""
import resource
import signal
import socket
import subprocess
import sys


def main():
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    if '/' in sys.argv[1]:
        out, inward = (int(n) for n in sys.argv[1].split('/'))
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(('127.0.0.1', 1999))
        server.listen(4096)
        held.append(server)
        for i in range(out + inward):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if i < out:
                c.bind(('127.0.0.2', 2000 + i))
            c.connect(('127.0.0.1', 1999))
            held.append(c)
            held.append(server.accept()[0])
    else:
        for i in range(int(sys.argv[1])):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 2000 + i))
            s.listen(1)
            held.append(s)
    child = subprocess.Popen(sys.argv[2:])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: child.send_signal(number))
    code = child.wait()
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == '__main__':
    main()
