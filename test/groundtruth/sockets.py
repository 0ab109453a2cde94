#!/usr/bin/env python3
"""Ground truth for check_ephemeral_ports: real sockets, real kernel counts.

Test tooling only (Python 3 standard library); it is never part of the plugin. The
caller starts it in a private network namespace (`unshare -n`; it refuses to run in its
parent's namespace) and writes a scenario as JSON on stdin:

    {"bundle": "/path/to/dist/check_ephemeral_ports",
     "steps": [{"op": "sysctl", "values": {"net.ipv4.ip_local_port_range": "40000 40199"}},
               {"op": "listen", "at": ["127.0.0.2", 5432]},
               {"op": "connect", "tuple": ["127.0.0.1", "127.0.0.2", 5432], "n": 20},
               {"op": "verify", "fresh": [["127.0.0.1", "127.0.0.4", 7000]]}]}

It brings lo up, runs the steps in order and prints {"results": [...]} on stdout, one
entry per step: null for steps that only build, {"ports": [...]} (the local ports they
got, in order) for steps that build client sockets; timeWait and bindTimeWait add
{madeFrom, madeTo}. Times (madeFrom/madeTo, ranFrom/ranTo) are CLOCK_MONOTONIC seconds, the
clock the kernel's timers follow: a TIME_WAIT made between madeFrom and madeTo is, to a
check run between ranFrom and ranTo, between ranFrom - madeTo and ranTo - madeFrom seconds
old. Addresses must be loopback (127/8, ::1,
::ffff:127.x); UDP sockets may also bind a wildcard, which in a lo-only namespace is the same.

Steps (a tuple is [local, remote, remote port]; `at` and `to` are [address, port]):
  sysctl {values}        write /proc/sys/<name with dots as slashes>
  listen/unlisten {at}   a TCP listener (backlog 65535), or close it
  connect {tuple, n}     n connections, ports chosen by connect() (IP_BIND_ADDRESS_NO_PORT)
  bindConnect {tuple, n} n connections whose port bind((local, 0)) chose before connect()
                         (no IP_BIND_ADDRESS_NO_PORT): the way proxies use a source address
  bindPort {tuple, port} one connection from the given local port, bound explicitly
  accepted/timeWait/finWait2/closeWait {tuple, n}
                         n connections accepted by the listener, then left open, or
                         closed until the client side is in that state
  bindTimeWait {tuple, n}  timeWait, the clients binding first like bindConnect
  rangeConnect {tuple, n}  connect, each socket with IP_LOCAL_PORT_RANGE set to the
                         whole ip_local_port_range (which turns connect()'s parity off)
  udp {at}, udpConnect {to, n}   a bound UDP socket; n unbound ones connect()ed
  fill {tuple}           connect until the kernel refuses, keeping the sockets -> {count}
  churn {tuple}          one more connection at a time, each closed into TIME_WAIT, until
                         connect() refuses -> {absorbed, timeWaitAges}: how many TIME_WAITs
                         the tuple took on, and the ages (ms, from /proc) of all its
                         TIME_WAITs at the end
  count {tuple}          the same, closing them again -> {count}
  sleep {seconds}
  check {args}           run the bundle -> {status, stdout, stderr, ranFrom, ranTo}
  verify {fresh, repeat?, mapped?}   run the bundle with --format json --top 0, then count
                         what the kernel still allows for every pool it reports (below)

Counting a TCP tuple (S, D, P): connect() from a socket with IP_BIND_ADDRESS_NO_PORT bound
to (S, 0) to D:P, non-blocking, until EADDRNOTAVAIL; EINPROGRESS or 0 counts. The listener
at D:P keeps every attempt in SYN_SENT or ESTABLISHED. The counted sockets are then closed
with an RST (SO_LINGER 0), so they leave no TIME_WAIT behind. `verify` counts the UDP pool
and the bind()-style figure first (binding to 0.0.0.0:0 and to a dual-stack [::]:0 until
EADDRINUSE, UDP connect() until EAGAIN), because counting a tuple uses up its reusable
TIME_WAITs; then every reported tuple and the fresh ones, each alone; then all of them
again, each while the sockets of those counted before it stay open, which shows that
counting one tuple does not disturb another. Each reported tuple also says how many of the
client sockets built for it bound first (`bindFirst`): what the scenario did, not a count.
"""
import errno
import ipaddress
import json
import os
import resource
import socket
import struct
import select
import subprocess
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # include/uapi/linux/in.h, level SOL_IP
IP_LOCAL_PORT_RANGE = 51  # the same header, Linux >= 6.3: (high << 16) | low
LINGER_RESET = struct.pack('ii', 1, 0)  # close() sends RST: no TIME_WAIT
# A count stops here rather than run into the open-file limit (20,000 per process).
MAX_SOCKETS_PER_COUNT = 5000


class ScenarioError(Exception):
    pass


def loopback(text, wildcard=False):
    """Refuses any address but loopback (and, to bind in this lo-only namespace, a wildcard)."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, 'ipv4_mapped', None)
    if wildcard and address.is_unspecified:
        return address
    if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
        raise ScenarioError(f'{text} is not a loopback address')
    return address


def canon(text):
    """One spelling per address, the one inet_ntop gives (as /proc decoded below)."""
    family = family_of(text)
    return socket.inet_ntop(family, socket.inet_pton(family, text))


def family_of(text):
    return socket.AF_INET6 if ':' in text else socket.AF_INET


def plain(text):
    """IPv4-mapped IPv6 folded to IPv4, as the check groups (docs/kernel-model.md, Rule 5)."""
    address = ipaddress.ip_address(text)
    mapped = getattr(address, 'ipv4_mapped', None)
    return str(mapped if mapped is not None else address)


def tuple_key(local, remote, port):
    return f'{plain(local)} {plain(remote)} {port}'


def established(sock):
    """Whether a TCP socket is ESTABLISHED: tcpi_state, the first byte of TCP_INFO."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 1


def peer_of(sock):
    address = sock.getpeername()
    return plain(address[0]), address[1]


def close_reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    except OSError:
        pass
    sock.close()


def read_sysctl(name):
    with open('/proc/sys/' + name.replace('.', '/')) as f:
        return f.read().strip()


def write_sysctl(name, value):
    with open('/proc/sys/' + name.replace('.', '/'), 'w') as f:
        f.write(str(value))


def hex_address(hex_text):
    """An address as /proc/net prints it: 32-bit words in host byte order."""
    words = [int(hex_text[i:i + 8], 16) for i in range(0, len(hex_text), 8)]
    raw = b''.join(struct.pack('=I', w) for w in words)
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def proc_sockets(protocol):
    """(local ip, local port, remote ip, remote port, state) of each line of /proc/net/<protocol>{,6}."""
    for table in (f'/proc/net/{protocol}', f'/proc/net/{protocol}6'):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                lip, lport = fields[1].split(':')
                rip, rport = fields[2].split(':')
                yield hex_address(lip), int(lport, 16), hex_address(rip), int(rport, 16), int(fields[3], 16)


def proc_time_wait_ages(local, remote, port):
    """Ages in ms of the TIME_WAIT sockets of tuple (local, remote, port), IPv4-mapped folded,
    from the timer of /proc/net/tcp{,6}: `tr:when`, timer 3, `when` = 1/100 s left of 60 s."""
    want = (plain(local), plain(remote), port)
    ages = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if int(fields[3], 16) != 6:
                    continue
                lip, _ = fields[1].split(':')
                rip, rport = fields[2].split(':')
                if (plain(hex_address(lip)), plain(hex_address(rip)), int(rport, 16)) != want:
                    continue
                timer, when = fields[5].split(':')
                if int(timer, 16) != 3:
                    raise ScenarioError(f'TIME_WAIT with timer {timer}: {line.strip()}')
                ages.append(60_000 - int(when, 16) * 10)
    return sorted(ages)


def proc_tcp_states():
    """{(local ip, local port, remote ip, remote port): state} from /proc/net/tcp{,6}."""
    return {s[:4]: s[4] for s in proc_sockets('tcp')}


def usable_ports():
    """The range minus reserved ports, as the kernel reads its own sysctls back."""
    low, high = (int(p) for p in read_sysctl('net.ipv4.ip_local_port_range').split())
    usable = set(range(low, high + 1))
    for item in filter(None, read_sysctl('net.ipv4.ip_local_reserved_ports').split(',')):
        a, _, b = item.partition('-')
        usable.difference_update(range(int(a), int(b or a) + 1))
    return usable


def ipv6_only_ports(protocol):
    """Usable ports held only by sockets showing a specific IPv6 address (such as ::1).

    An IPv4 bind to 0.0.0.0:0 may take such a port when the socket was bound to that
    address (the address spaces do not overlap), not when it was autobound as [::]
    before connecting; a dual-stack bind to [::]:0 never may. So this is the most an
    IPv4 wildcard count can exceed a dual-stack one. Measured on 6.18, TCP and UDP."""
    usable = usable_ports()
    only6, other = set(), set()
    for local, port, *_ in proc_sockets(protocol):
        if port in usable:
            v6 = ':' in local and not local.startswith('::ffff:') and local != '::'
            (only6 if v6 else other).add(port)
    return only6 - other


def count_sockets(new_socket, use, refusal):
    """How many fresh sockets `use` succeeds on before it fails with errno `refusal`.
    All of them are closed before returning."""
    sockets = []
    try:
        while len(sockets) < MAX_SOCKETS_PER_COUNT:
            sock = new_socket()
            sockets.append(sock)
            try:
                use(sock)
            except OSError as err:
                if err.errno != refusal:
                    raise
                return len(sockets) - 1
        raise ScenarioError('counting ran past MAX_SOCKETS_PER_COUNT')
    finally:
        for sock in sockets:
            sock.close()


class Namespace:
    def __init__(self, bundle):
        self.bundle = bundle
        self.listeners = {}  # (address text, port) -> socket
        self.accepted = {}  # listener key -> sockets accepted but not asked for
        self.held = []  # sockets the scenario built and keeps open
        self.built = set()  # tuple keys of the client sockets built
        # tuple key -> how many of its client sockets, open or in TIME_WAIT, took their
        # port with bind() before connect()
        self.bind_first = {}

    # ---- building -------------------------------------------------------------------

    def listen(self, at, backlog=65535):
        host, port = at
        loopback(host)
        sock = socket.socket(family_of(host), socket.SOCK_STREAM)
        sock.bind((host, port))
        sock.listen(backlog)
        self.listeners[(canon(host), port)] = sock

    def client(self, local, remote, port, blocking, bind_port=False, local_range=False):
        """A TCP socket from local to remote:port, its port chosen by connect() (or, with
        bind_port, by bind() before connect(): then no other tuple may use it; with
        local_range, from a per-socket IP_LOCAL_PORT_RANGE equal to the sysctl's)."""
        loopback(local)
        loopback(remote)
        sock = socket.socket(family_of(remote), socket.SOCK_STREAM)
        if not bind_port:
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        if local_range:
            low, high = (int(p) for p in read_sysctl('net.ipv4.ip_local_port_range').split())
            sock.setsockopt(socket.SOL_IP, IP_LOCAL_PORT_RANGE, struct.pack('I', high << 16 | low))
        sock.bind((local, 0))
        if blocking:
            sock.settimeout(5)
            sock.connect((remote, port))
            return sock, 0
        sock.setblocking(False)
        return sock, sock.connect_ex((remote, port))

    def connect(self, tup, n, bind_port=False, local_range=False):
        local, remote, port = tup
        self.need_listener(remote, port)
        ports = []
        for _ in range(n):
            sock, _ = self.client(local, remote, port, blocking=True, bind_port=bind_port, local_range=local_range)
            self.held.append(sock)
            ports.append(sock.getsockname()[1])
        self.note_built(tup, n if bind_port else 0)
        return {'ports': ports}

    def note_built(self, tup, bind_first):
        key = tuple_key(*tup)
        self.built.add(key)
        self.bind_first[key] = self.bind_first.get(key, 0) + bind_first

    def accept_peer(self, remote, port, peer):
        """The server side of the live connection from peer, set aside others met on the way.

        A peer address comes back once its old connection is gone (counted sockets are
        reset, churn reuses TIME_WAIT), so an accepted socket no longer ESTABLISHED is
        dropped rather than mistaken for the new connection."""
        key = self.need_listener(remote, port)
        listener = self.listeners[key]
        listener.settimeout(5)
        peer = (plain(peer[0]), peer[1])
        found, kept = None, []
        for sock in self.accepted.setdefault(key, []):
            if not established(sock):
                sock.close()
            elif found is None and peer_of(sock) == peer:
                found = sock
            else:
                kept.append(sock)
        self.accepted[key] = kept
        if found is not None:
            return found
        while True:
            sock, _ = listener.accept()
            if not established(sock):
                sock.close()
            elif peer_of(sock) == peer:
                return sock
            else:
                kept.append(sock)

    def closing(self, tup, n, how, bind_port=False):
        """n connections of tup, closed so that the client side ends in a given state.
        Returns {ports, madeFrom, madeTo}: the client ports, and monotonic times around the closes.

        established: nobody closes; the server side is accepted and kept.
        time_wait: client closes first, the server reads the FIN, then closes.
        fin_wait2: client closes, the server never does.
        close_wait: the server closes, the client never does.
        """
        local, remote, port = tup
        ends = []
        before = time.monotonic()
        for _ in range(n):
            client, _ = self.client(local, remote, port, blocking=True, bind_port=bind_port)
            ends.append(self.end_connection(client, remote, port, how))
        # A client that bound first keeps its port in every state, TIME_WAIT included.
        self.note_built(tup, n if bind_port else 0)
        self.wait_states(tup, ends, how)
        return {'ports': [p for _, p in ends], 'madeFrom': before, 'madeTo': time.monotonic()}

    def end_connection(self, client, remote, port, how):
        """Accepts the server side of a connected client and closes as `how` (see closing);
        returns the client's (address, port)."""
        name = client.getsockname()[:2]
        server = self.accept_peer(remote, port, name)
        server.settimeout(5)
        if how == 'established':
            self.held.extend((client, server))
        elif how == 'close_wait':
            server.close()
            self.held.append(client)
        else:
            client.close()
            if server.recv(1) != b'':
                raise ScenarioError('the server read data instead of the FIN')
            if how == 'time_wait':
                server.close()
            else:
                self.held.append(server)
        return canon(name[0]), name[1]

    def wait_states(self, tup, ends, how):
        """Loopback delivers at once, but wait for the kernel to say so before going on."""
        want = {'established': 1, 'time_wait': 6, 'fin_wait2': 5, 'close_wait': 8}[how]
        remote_text = canon(tup[1])
        deadline = time.monotonic() + 10
        while True:
            states = proc_tcp_states()
            if all(states.get((ip, p, remote_text, tup[2])) == want for ip, p in ends):
                return
            if time.monotonic() > deadline:
                raise ScenarioError(f'sockets of {tup} did not all reach state {want}')
            time.sleep(0.01)

    def churn(self, tup):
        """More churn on tup: one connection at a time, each closed into TIME_WAIT (client
        first), until connect() refuses with EADDRNOTAVAIL. Every other error is a failure."""
        local, remote, port = tup
        self.need_listener(remote, port)
        ends = []
        while True:
            if len(ends) >= MAX_SOCKETS_PER_COUNT:
                raise ScenarioError('churn ran past MAX_SOCKETS_PER_COUNT')
            client, code = self.client(local, remote, port, blocking=False)
            if code == errno.EADDRNOTAVAIL:
                client.close()
                break
            if code not in (0, errno.EINPROGRESS):
                client.close()
                raise ScenarioError(f'connect {local} -> {remote}:{port}: {errno.errorcode.get(code, code)}')
            select.select([], [client], [], 5)  # the handshake: at once on loopback
            failed = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if failed:
                raise ScenarioError(f'connect {local} -> {remote}:{port}: {errno.errorcode.get(failed, failed)}')
            client.setblocking(True)
            ends.append(self.end_connection(client, remote, port, 'time_wait'))
        self.wait_states(tup, ends, 'time_wait')
        self.note_built(tup, 0)
        return {'absorbed': len(ends), 'timeWaitAges': proc_time_wait_ages(local, remote, port)}

    def udp(self, at):
        host, port = at
        loopback(host, wildcard=True)
        sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
        sock.bind((host, port))
        self.held.append(sock)

    def udp_connect(self, to, n):
        host, port = to
        loopback(host)
        for _ in range(n):
            sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
            sock.connect((host, port))
            self.held.append(sock)

    def need_listener(self, remote, port):
        """The listener a connect to remote:port reaches (IPv4 and IPv4-mapped meet)."""
        folded = plain(remote)
        for key in ((canon(remote), port), (folded, port), ('::ffff:' + folded, port)):
            if key in self.listeners:
                return key
        raise ScenarioError(f'no listener at {remote}:{port}: declare one with a listen step')

    # ---- counting -------------------------------------------------------------------

    def count_connects(self, local, remote, port):
        """How many more connect()s from local to remote:port the kernel allows.

        Returns (count, sockets): the caller closes the sockets (close_reset)."""
        self.need_listener(remote, port)
        sockets = []
        while True:
            if len(sockets) >= MAX_SOCKETS_PER_COUNT:
                raise ScenarioError('counting ran past MAX_SOCKETS_PER_COUNT')
            sock, code = self.client(local, remote, port, blocking=False)
            if code in (0, errno.EINPROGRESS):
                sockets.append(sock)
                continue
            sock.close()
            if code != errno.EADDRNOTAVAIL:
                raise ScenarioError(f'connect {local} -> {remote}:{port}: {errno.errorcode.get(code, code)}')
            return len(sockets), sockets

    def count_binds(self, kind, wildcard):
        """How many TCP or UDP sockets bind to wildcard:0 before EADDRINUSE.

        '0.0.0.0' is an IPv4 socket; '::' a dual-stack IPv6 one (IPV6_V6ONLY off), which
        conflicts with every socket on a port, IPv6-only addresses such as ::1 included."""
        family = family_of(wildcard)

        def new_socket():
            sock = socket.socket(family, kind)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            return sock
        return count_sockets(new_socket, lambda sock: sock.bind((wildcard, 0)), errno.EADDRINUSE)

    def count_udp_connects(self, to):
        """How many unbound UDP sockets connect() (autobinding a port) before EAGAIN."""
        return count_sockets(lambda: socket.socket(family_of(to[0]), socket.SOCK_DGRAM), lambda sock: sock.connect(tuple(to)), errno.EAGAIN)

    def run_check(self, args):
        ran_from = time.monotonic()
        r = subprocess.run([self.bundle, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        return {'args': args, 'status': r.returncode, 'stdout': r.stdout, 'stderr': r.stderr, 'ranFrom': ran_from, 'ranTo': time.monotonic()}

    def count_released(self, local, remote, port):
        """count_connects, its sockets closed again."""
        n, sockets = self.count_connects(local, remote, port)
        for sock in sockets:
            close_reset(sock)
        return n

    def verify(self, fresh, repeat=1, mapped=False, udp_to=('127.0.0.2', 9)):
        """Runs the check, then counts what the kernel still allows for every pool it reports."""
        # Both socket sources, back to back, before anything is counted: each must agree
        # with the kernel, so the ss listing and /proc must agree with each other.
        check = self.run_check(['--format', 'json', '--top', '0', '--source', 'ss'])
        check_proc = self.run_check(['--format', 'json', '--top', '0', '--source', 'proc'])
        report = json.loads(check['stdout'])
        # Host-wide figures first: counting a tuple consumes its reusable TIME_WAITs.
        udp = {'bind4': self.count_binds(socket.SOCK_DGRAM, '0.0.0.0'), 'bindDual': self.count_binds(socket.SOCK_DGRAM, '::'),
               'connect4': self.count_udp_connects(udp_to), 'ipv6OnlyPorts': len(ipv6_only_ports('udp'))}
        tcp_bind = {'bind4': self.count_binds(socket.SOCK_STREAM, '0.0.0.0'), 'bindDual': self.count_binds(socket.SOCK_STREAM, '::'),
                    'ipv6OnlyPorts': len(ipv6_only_ports('tcp'))}
        reported = [{'local': t['local'], 'remote': t['remote'], 'remotePort': t['remotePort'],
                     'bindFirst': self.bind_first.get(tuple_key(t['local'], t['remote'], t['remotePort']), 0)}
                    for t in report['tuples'] if t['protocol'] == 'tcp']
        fresh = [{'local': local, 'remote': remote, 'remotePort': port} for local, remote, port in fresh]
        # Each tuple alone, its sockets closed before the next (repeated: in an odd-sized
        # range the answer may differ per call).
        for entry in reported + fresh:
            entry['counts'] = [self.count_released(entry['local'], entry['remote'], entry['remotePort']) for _ in range(repeat)]
            if mapped and ':' not in entry['local']:
                # The same IPv4 tuple from AF_INET6 sockets with IPv4-mapped addresses.
                entry['mappedCount'] = self.count_released('::ffff:' + entry['local'], '::ffff:' + entry['remote'], entry['remotePort'])
        # Every tuple again, this time keeping the sockets of the tuples counted before.
        kept = []
        for entry in reported + fresh:
            n, sockets = self.count_connects(entry['local'], entry['remote'], entry['remotePort'])
            kept.extend(sockets)
            entry['countWhileOthersHeld'] = n
        for sock in kept:
            close_reset(sock)
        return {
            'check': {**check, 'report': report},
            'checkProc': {**check_proc, 'report': json.loads(check_proc['stdout'])},
            'usablePorts': len(usable_ports()),
            'built': sorted(self.built),
            'tuples': reported,
            'fresh': fresh,
            'udp': udp,
            'tcpBind': tcp_bind,
        }

    # ---- the scenario -----------------------------------------------------------------

    def step(self, s):
        op = s['op']
        if op == 'sysctl':
            for name, value in s['values'].items():
                write_sysctl(name, value)
        elif op == 'listen':
            self.listen(s['at'])
        elif op == 'connect':
            return self.connect(s['tuple'], s['n'])
        elif op == 'bindConnect':
            return self.connect(s['tuple'], s['n'], bind_port=True)
        elif op == 'bindPort':
            local, remote, port = s['tuple']
            self.need_listener(remote, port)
            sock = socket.socket(family_of(remote), socket.SOCK_STREAM)
            sock.bind((local, s['port']))
            sock.settimeout(5)
            sock.connect((remote, port))
            self.held.append(sock)
        elif op == 'rangeConnect':
            return self.connect(s['tuple'], s['n'], local_range=True)
        elif op == 'unlisten':
            self.listeners.pop(self.need_listener(*s['at'])).close()
        elif op in ('accepted', 'timeWait', 'finWait2', 'closeWait', 'bindTimeWait'):
            how = {'accepted': 'established', 'timeWait': 'time_wait', 'finWait2': 'fin_wait2', 'closeWait': 'close_wait', 'bindTimeWait': 'time_wait'}[op]
            result = self.closing(s['tuple'], s['n'], how, bind_port=op == 'bindTimeWait')
            if how != 'time_wait':
                del result['madeFrom'], result['madeTo']
            return result
        elif op == 'udp':
            self.udp(s['at'])
        elif op == 'udpConnect':
            self.udp_connect(s['to'], s['n'])
        elif op == 'fill':
            # Connect until the kernel refuses, keeping every socket: an exhausted tuple.
            local, remote, port = s['tuple']
            n, sockets = self.count_connects(local, remote, port)
            self.held.extend(sockets)
            self.note_built(s['tuple'], 0)
            return {'count': n}
        elif op == 'count':
            return {'count': self.count_released(*s['tuple'])}
        elif op == 'churn':
            return self.churn(s['tuple'])
        elif op == 'sleep':
            time.sleep(s['seconds'])
        elif op == 'check':
            return self.run_check(s['args'])
        elif op == 'verify':
            return self.verify([tuple(f) for f in s['fresh']], s.get('repeat', 1), s.get('mapped', False))
        else:
            raise ScenarioError(f'unknown op {op!r}')
        return None


def main():
    scenario = json.load(sys.stdin)
    # Counting opens a socket per port; the hard limit is the ceiling.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Sysctls written outside a private namespace would change the host: refuse. The
    # parent (whoever ran `unshare -n`) is still in the namespace we came from.
    if os.stat('/proc/self/ns/net').st_ino == os.stat(f'/proc/{os.getppid()}/ns/net').st_ino:
        raise ScenarioError('not in a private network namespace: start me with unshare -n')
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    ns = Namespace(scenario['bundle'])
    results = []
    for i, s in enumerate(scenario['steps']):
        try:
            results.append(ns.step(s))
        except Exception as err:
            raise ScenarioError(f'step {i} {json.dumps(s)}: {err}') from err
    json.dump({'results': results}, sys.stdout)


if __name__ == '__main__':
    main()
