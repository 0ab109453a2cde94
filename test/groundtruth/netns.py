#!/usr/bin/env python3
"""Ground truth for --namespaces: several private network namespaces, real sockets in each,
the check run from the namespace above them, the kernel's counts inside each.

Test tooling only (Python 3 standard library, plus sockets.py next to it). The caller
starts the driver as pid 1 of private pid, mount and network namespaces:

    unshare --net --pid --mount --fork --mount-proc python3 netns.py < scenario.json

so that /proc shows only what this scenario starts (no other namespace of the machine is
seen), /run is a private tmpfs (names made with `ip netns attach` vanish with it), and
everything it started dies with it. Scenario:

    {"bundle": "/path/to/dist/check_ephemeral_ports",
     "user": "cep_netns",                       # the unprivileged user, which must exist
     "cgroup": "/sys/fs/cgroup/unified/cep_netns_123.slice" or null,
     "own": [steps],                            # sockets.py steps in the driver's namespace
     "namespaces": [{"id": "pod", "steps": [...], "userConnects": [[tuple, n], ...],
                     "comm": "cep-pod", "pod": "<uuid>" or null, "name": "cep_named" or null,
                     "defaults": true}],        # also checked after setting the kernel defaults
     "checks": [{"as": "root" | "user", "args": [...]}]}

Each namespace gets a holder: `unshare -n python3 netns.py --holder` (root), its comm set
to `comm`; with userConnects, a second holder in the same namespace running as `user`
(started through nsenter and setpriv, so that it execs as that user and the user may read
its /proc/PID/ns/net) holds those connections. `pod` moves both holders into a cgroup
shaped like a Kubernetes pod's under `cgroup`; `name` binds the namespace to
/run/netns/NAME. Then, in order:
  1. the first `countAfter` checks run (all when it is absent; root: directly; user: through
     setpriv) -> {as, args, status, stdout, stderr}
  2. for every tuple the first check reports in each namespace, and a fresh tuple per
     namespace, the holder counts how many more connect()s the kernel allows (as
     sockets.py's verify does), and the UDP pool by binds to [::]:0; then the other checks;
  3. for each namespace with `defaults`, its sysctls are set to the kernel defaults of a new
     namespace and the check runs as root on it alone (--namespaces PID), then they are set
     back.
It prints {"holders": {...}, "checks": [...], "counts": {...}, "defaults": {...}}.
"""
import ctypes
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sockets  # noqa: E402

HERE = os.path.abspath(__file__)
# An empty write would change nothing: a newline clears the reserved list.
DEFAULTS = {'net.ipv4.ip_local_port_range': '32768 60999', 'net.ipv4.ip_local_reserved_ports': '\n',
            'net.ipv4.tcp_tw_reuse': '2', 'net.ipv4.tcp_tw_reuse_delay': '1000', 'net.ipv4.tcp_timestamps': '1'}


def set_comm(name):
    """The process name the check shows (prctl PR_SET_NAME)."""
    ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)


# ---- holder: one process in a namespace, answering one command per line ----------------

def holder():
    ns = sockets.Namespace(None)
    out = sys.stdout
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd['op']
        try:
            if op == 'comm':
                set_comm(cmd['name'])
                reply = None
            elif op == 'step':
                reply = ns.step(cmd['step'])
            elif op == 'connectFree':
                # To a listener another process of this namespace holds.
                local, remote, port = cmd['tuple']
                for _ in range(cmd['n']):
                    sock, _ = ns.client(local, remote, port, blocking=True)
                    ns.held.append(sock)
                reply = None
            elif op == 'count':
                reply = ns.count_released(*cmd['tuple'])
            elif op == 'countUdp':
                reply = ns.count_binds(socket.SOCK_DGRAM, '::')
            elif op == 'usable':
                reply = len(sockets.usable_ports())
            elif op == 'sysctls':
                for name, value in cmd['values'].items():
                    sockets.write_sysctl(name, value)
                reply = None
            elif op == 'readSysctls':
                reply = {name: sockets.read_sysctl(name) for name in cmd['names']}
            elif op == 'info':
                reply = {'pid': os.getpid(), 'uid': os.getuid(), 'inode': os.stat('/proc/self/ns/net').st_ino}
            elif op == 'exit':
                return
            else:
                raise sockets.ScenarioError(f'unknown op {op!r}')
            out.write(json.dumps({'ok': reply}) + '\n')
        except Exception as err:  # the driver reports it with the command
            out.write(json.dumps({'error': f'{type(err).__name__}: {err}'}) + '\n')
        out.flush()


class Holder:
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, op, **kw):
        self.proc.stdin.write(json.dumps({'op': op, **kw}) + '\n')
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline() or '{"error": "the holder died"}')
        if 'error' in reply:
            raise sockets.ScenarioError(f'holder {self.proc.pid}, {op} {kw}: {reply["error"]}')
        return reply['ok']

    def close(self):
        try:
            self.ask('exit')
        except Exception:
            pass
        self.proc.wait(timeout=10)


# ---- driver ------------------------------------------------------------------------------

def run_check(bundle, user, as_user, args):
    argv = [bundle, *args]
    if as_user == 'user':
        argv = ['setpriv', f'--reuid={user}', f'--regid={user}', '--clear-groups', '--', *argv]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return {'as': as_user, 'args': args, 'status': r.returncode, 'stdout': r.stdout, 'stderr': r.stderr}


def into_cgroup(path, pids):
    os.makedirs(path, exist_ok=True)
    for pid in pids:
        with open(os.path.join(path, 'cgroup.procs'), 'w') as f:
            f.write(str(pid))


def driver():
    scenario = json.load(sys.stdin)
    if os.getpid() != 1:
        raise sockets.ScenarioError('run me as pid 1 of a private pid namespace (unshare --pid --fork --mount-proc)')
    bundle, user = scenario['bundle'], scenario['user']
    # A private /run: `ip netns attach` creates /run/netns, which must not outlive us.
    subprocess.run(['mount', '-t', 'tmpfs', 'tmpfs', '/run'], check=True)
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    own = sockets.Namespace(bundle)
    for s in scenario['own']:
        own.step(s)

    holders, users, info, cgroups = {}, {}, {}, []
    try:
        for spec in scenario['namespaces']:
            h = holders[spec['id']] = Holder(['unshare', '-n', 'python3', HERE, '--holder'])
            h.ask('comm', name=spec['comm'])
            subprocess.run(['nsenter', f'--net=/proc/{h.proc.pid}/ns/net', 'ip', 'link', 'set', 'lo', 'up'], check=True)
            for s in spec['steps']:
                h.ask('step', step=s)
            if spec.get('userConnects'):
                u = users[spec['id']] = Holder(['nsenter', f'--net=/proc/{h.proc.pid}/ns/net', '--', 'setpriv', f'--reuid={user}', f'--regid={user}',
                                                '--clear-groups', '--', 'python3', HERE, '--holder'])
                u.ask('comm', name=spec['comm'] + '-u')
                for tup, n in spec['userConnects']:
                    u.ask('connectFree', tuple=tup, n=n)
            entry = h.ask('info')
            if spec['id'] in users:
                entry['user'] = users[spec['id']].ask('info')
            if spec.get('pod') and scenario.get('cgroup'):
                uid = spec['pod']
                path = os.path.join(scenario['cgroup'], f'kubepods-besteffort-pod{uid.replace("-", "_")}.slice', 'cri-containerd-' + 'ab' * 32 + '.scope')
                into_cgroup(path, [p['pid'] for p in (entry, entry.get('user')) if p])
                cgroups.append(path)
                entry['cgroup'] = path
            if spec.get('name'):
                subprocess.run(['ip', 'netns', 'attach', spec['name'], str(entry['pid'])], check=True)
            info[spec['id']] = entry

        # TIME_WAITs older than tcp_tw_reuse_delay, as the assumed defaults would reuse them.
        time.sleep(1.2)
        # `{pid:ID}` in an argument: the pid of that namespace's holder.
        pids = {f'{{pid:{k}}}': str(v['pid']) for k, v in info.items()}
        run = lambda c: run_check(bundle, user, c['as'], [pids.get(a, a) for a in c['args']])
        # The first `countAfter` checks, then the counts at once: TIME_WAITs live 60 s, and
        # on a loaded machine all the checks could outlast them.
        first = scenario.get('countAfter', len(scenario['checks']))
        checks = [run(c) for c in scenario['checks'][:first]]

        # The kernel's counts, for what the first check reports.
        report = json.loads(checks[0]['stdout'])
        counts = {}
        fresh = ['127.0.0.1', '127.0.0.250', 7]
        for spec in scenario['namespaces']:
            h, inode = holders[spec['id']], info[spec['id']]['inode']
            reported = [t for t in report['tuples'] if t['netns'] == inode and t['protocol'] == 'tcp']
            h.ask('step', step={'op': 'listen', 'at': fresh[1:]})
            counts[spec['id']] = {
                'tuples': [{'key': f"{t['local']} {t['remote']} {t['remotePort']}", 'count': h.ask('count', tuple=[t['local'], t['remote'], t['remotePort']])} for t in reported],
                'fresh': h.ask('count', tuple=fresh),
                'udp': h.ask('countUdp'),
                'usable': h.ask('usable'),
            }
        own.listen(fresh[1:])
        own_inode = os.stat('/proc/self/ns/net').st_ino
        counts['own'] = {
            'tuples': [{'key': f"{t['local']} {t['remote']} {t['remotePort']}", 'count': own.count_released(t['local'], t['remote'], t['remotePort'])}
                       for t in report['tuples'] if t['netns'] == own_inode and t['protocol'] == 'tcp'],
            'fresh': own.count_released(*fresh),
            'udp': own.count_binds(socket.SOCK_DGRAM, '::'),
            'usable': len(sockets.usable_ports()),
        }
        info['own'] = {'pid': 1, 'inode': own_inode}
        checks += [run(c) for c in scenario['checks'][first:]]

        # The same sockets under the kernel defaults: what an unprivileged check assumes.
        defaults = {}
        for spec in scenario['namespaces']:
            if not spec.get('defaults'):
                continue
            h = holders[spec['id']]
            saved = h.ask('readSysctls', names=list(DEFAULTS))
            h.ask('sysctls', values=DEFAULTS)
            defaults[spec['id']] = run_check(bundle, user, 'root', ['--namespaces', str(info[spec['id']]['pid']), '--walk', 'all', '--format', 'json', '--top', '0', '-t', '60'])
            h.ask('sysctls', values={name: value.replace('\t', ' ') or '\n' for name, value in saved.items()})
        json.dump({'holders': info, 'checks': checks, 'counts': counts, 'defaults': defaults}, sys.stdout)
    finally:
        for h in [*users.values(), *holders.values()]:
            h.close()
        for path in cgroups:
            # Empty once its processes have exited; the slices above it are the caller's.
            for _ in range(50):
                try:
                    os.rmdir(path)
                    os.rmdir(os.path.dirname(path))
                    break
                except OSError:
                    time.sleep(0.05)


if __name__ == '__main__':
    if sys.argv[1:] == ['--holder']:
        holder()
    else:
        driver()
