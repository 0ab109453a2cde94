#!/usr/bin/env python3
"""Ground truth for source NAT: a router namespace with MASQUERADE (or SNAT) rules, two
client namespaces behind it, a server namespace beyond it, real connections through it;
the check run inside the router; then the kernel's own answer: how many new connections
still go through to each destination before the next one times out.

Test tooling only (Python 3 standard library). The caller starts the driver as pid 1 of
private network, pid and mount namespaces, so that everything it starts dies with it, the
names `ip netns add` makes live on a private /run, and a check run with --namespaces from
the driver's namespace sees only these:

    unshare --net --pid --mount --fork --mount-proc python3 nat.py < scenario.json

Topology (only addresses inside these namespaces):
    c1 10.1.0.2 --- 10.1.0.1 [router] 10.2.0.1 --- 10.2.0.2, 10.2.0.3 server
    c2 10.3.0.2 --- 10.3.0.1 [router]                (listening on 5432 and 6000)

Scenario:
    {"bundle": "/path/to/dist/check_ephemeral_ports",
     "rules": "iptables-nft" | "iptables-legacy" | "nft",
     "ports": [40000, 40049] or null,      # the rule's port range; null: none (default class)
     "routerRange": [40000, 40049] or null, # the router's own ip_local_port_range
     "connect": [{"from": "c1" | "c2" | "router", "to": ["10.2.0.2", 5432], "n": 20}],
     "checks": [[args...] or {"outside": [args...]}],  # as root, inside the router or in the driver's namespace
     "count": [{"from": "c1", "to": ["10.2.0.2", 5432], "max": 200}],
     "timeout": 0.5}                        # seconds a connect may take before it counts as failed
Rules translate what comes from the client subnets (the router's own connections keep
their address and port: they hold NAT tuples without being translated). Prints
{"checks": [{args, status, stdout, stderr}], "counts": [n, ...], "connected": [n, ...],
 "refused": {"insert_failed": n, "drop": n}}: counts[i] is how many new connections from
count[i]'s client went through before one timed out.
"""
import json
import os
import select
import socket
import subprocess
import sys

HERE = os.path.abspath(__file__)
SERVER_PORTS = (5432, 6000)
CLIENTS = {'c1': ('10.1.0.2', '10.1.0.1', 'in1'), 'c2': ('10.3.0.2', '10.3.0.1', 'in2')}
NAT_ADDRESS = '10.2.0.1'


class ScenarioError(Exception):
    pass


def sh(*argv, stdin=None):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        raise ScenarioError(f'{" ".join(argv)}: {r.stderr.strip()}')
    return r.stdout


def in_ns(ns, *argv, stdin=None):
    return sh('ip', 'netns', 'exec', ns, *argv, stdin=stdin)


# ---- holder: one process in a namespace, answering one command per line ----------------

def serve(addresses):
    """The server: accepts every connection and holds it."""
    listeners = []
    for address in addresses:
        for port in SERVER_PORTS:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(4096)
            s.setblocking(False)
            listeners.append(s)
    held = []
    print('ready', flush=True)
    while True:
        ready, _, _ = select.select(listeners + [sys.stdin], [], [])
        if sys.stdin in ready:
            return
        for s in ready:
            try:
                held.append(s.accept()[0])
            except BlockingIOError:
                pass


def holder():
    held = []
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd['op'] == 'connect':
                # n connections that must go through.
                for _ in range(cmd['n']):
                    s = socket.socket()
                    s.settimeout(cmd['timeout'])
                    if cmd.get('bind'):
                        s.bind((cmd['bind'], 0))
                    s.connect(tuple(cmd['to']))
                    held.append(s)
                reply = cmd['n']
            elif cmd['op'] == 'count':
                # New connections until one times out: the kernel's remaining.
                n = 0
                while n < cmd['max']:
                    s = socket.socket()
                    s.settimeout(cmd['timeout'])
                    try:
                        s.connect(tuple(cmd['to']))
                    except (socket.timeout, TimeoutError):
                        s.close()
                        break
                    held.append(s)
                    n += 1
                reply = n
            elif cmd['op'] == 'exit':
                return
            else:
                raise ScenarioError(f'unknown op {cmd["op"]!r}')
            out = {'ok': reply}
        except Exception as err:
            out = {'error': f'{type(err).__name__}: {err}'}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


class Holder:
    def __init__(self, ns):
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', ns, 'python3', HERE, '--holder'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, op, **kw):
        self.proc.stdin.write(json.dumps({'op': op, **kw}) + '\n')
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline() or '{"error": "the holder died"}')
        if 'error' in reply:
            raise ScenarioError(f'{op} {kw}: {reply["error"]}')
        return reply['ok']

    def close(self):
        try:
            self.ask('exit')
        except Exception:
            pass
        self.proc.wait(timeout=10)


# ---- topology and rules -------------------------------------------------------------------

def topology():
    for ns in ('r', 'c1', 'c2', 's'):
        sh('ip', 'netns', 'add', ns)
        in_ns(ns, 'ip', 'link', 'set', 'lo', 'up')
    for name, (address, gateway, inside) in CLIENTS.items():
        sh('ip', 'link', 'add', 'eth0', 'netns', name, 'type', 'veth', 'peer', 'name', inside, 'netns', 'r')
        in_ns(name, 'ip', 'addr', 'add', f'{address}/24', 'dev', 'eth0')
        in_ns(name, 'ip', 'link', 'set', 'eth0', 'up')
        in_ns(name, 'ip', 'route', 'add', 'default', 'via', gateway)
        in_ns('r', 'ip', 'addr', 'add', f'{gateway}/24', 'dev', inside)
        in_ns('r', 'ip', 'link', 'set', inside, 'up')
    sh('ip', 'link', 'add', 'eth0', 'netns', 's', 'type', 'veth', 'peer', 'name', 'out', 'netns', 'r')
    for address in ('10.2.0.2', '10.2.0.3'):
        in_ns('s', 'ip', 'addr', 'add', f'{address}/24', 'dev', 'eth0')
    in_ns('s', 'ip', 'link', 'set', 'eth0', 'up')
    in_ns('r', 'ip', 'addr', 'add', f'{NAT_ADDRESS}/24', 'dev', 'out')
    in_ns('r', 'ip', 'link', 'set', 'out', 'up')
    in_ns('r', 'sysctl', '-qw', 'net.ipv4.ip_forward=1')


def rules(kind, ports):
    to = '' if ports is None else f'{ports[0]}-{ports[1]}'
    subnets = ('10.1.0.0/24', '10.3.0.0/24')
    if kind in ('iptables-nft', 'iptables-legacy'):
        for subnet in subnets:
            in_ns('r', kind, '-t', 'nat', '-A', 'POSTROUTING', '-o', 'out', '-s', subnet, '-p', 'tcp', '-j', 'MASQUERADE', *(['--to-ports', to] if to else []))
    elif kind == 'nft':
        spec = f'masquerade to :{to}' if to else 'masquerade'
        in_ns('r', 'nft', '-f', '-', stdin=f"""table ip nat {{
  chain post {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "out" ip saddr {{ {', '.join(subnets)} }} meta l4proto tcp {spec}
  }}
}}
""")
    else:
        raise ScenarioError(f'unknown rules {kind!r}')


def refused():
    """The router's insert_failed and drop, summed over the CPUs."""
    rows = in_ns('r', 'cat', '/proc/net/stat/nf_conntrack').split('\n')
    header = rows[0].split()
    total = {'insert_failed': 0, 'drop': 0}
    for row in rows[1:]:
        if row.strip():
            fields = row.split()
            for name in total:
                total[name] += int(fields[header.index(name)], 16)
    return total


def driver():
    scenario = json.load(sys.stdin)
    if os.getpid() != 1:
        raise ScenarioError('run me as pid 1 of a private pid namespace (unshare --pid --mount --fork --mount-proc)')
    # A private /run: the names `ip netns add` makes must not outlive us.
    subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', '/run'], check=True)
    topology()
    rules(scenario['rules'], scenario.get('ports'))
    if scenario.get('routerRange'):
        low, high = scenario['routerRange']
        in_ns('r', 'sysctl', '-qw', f'net.ipv4.ip_local_port_range={low} {high}')
    server = subprocess.Popen(['ip', 'netns', 'exec', 's', 'python3', HERE, '--serve', '10.2.0.2', '10.2.0.3'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holders = {}
    try:
        if server.stdout.readline().strip() != 'ready':
            raise ScenarioError('the server did not start')
        for name in ('c1', 'c2', 'router'):
            holders[name] = Holder('r' if name == 'router' else name)
        timeout = scenario.get('timeout', 0.5)
        connected = []
        for c in scenario['connect']:
            bind = NAT_ADDRESS if c['from'] == 'router' else None
            connected.append(holders[c['from']].ask('connect', to=c['to'], n=c['n'], timeout=timeout, bind=bind))
        checks = []
        for args in scenario['checks']:
            # {"outside": [...]}: from the driver's own namespace (--namespaces), else in the router.
            argv = [scenario['bundle'], *args['outside']] if isinstance(args, dict) else ['ip', 'netns', 'exec', 'r', scenario['bundle'], *args]
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            checks.append({'args': args, 'status': r.returncode, 'stdout': r.stdout, 'stderr': r.stderr})
        counts = [holders[c['from']].ask('count', to=c['to'], max=c['max'], timeout=timeout) for c in scenario.get('count', [])]
        print(json.dumps({'checks': checks, 'counts': counts, 'connected': connected, 'refused': refused()}))
    finally:
        for h in holders.values():
            h.close()
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == '__main__':
    if sys.argv[1:] == ['--holder']:
        holder()
    elif sys.argv[1:2] == ['--serve']:
        serve(sys.argv[2:])
    else:
        driver()
