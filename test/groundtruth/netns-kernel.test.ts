/**
 * The kernel facts the namespace layer rests on (docs/namespaces.md), each shown on the
 * running kernel with throwaway namespaces: a new namespace starts at the kernel defaults,
 * not at its creator's values; /proc/sys answers for the reader's namespace whatever path
 * leads there; the inode of /proc/PID/net/tcp is one per namespace and anyone may read it,
 * while another user's ns/net link is refused.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { skip } from './namespace';

const SYSCTLS = ['net.ipv4.ip_local_port_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse_delay', 'net.ipv4.tcp_timestamps'];

function sh(script: string): string {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${script}\n${r.stderr}`);
  return r.stdout;
}

/** A process sleeping in a new network namespace, with sysctls of its own. */
function holder(setup: string): Promise<ChildProcess> {
  const child = spawn('unshare', ['-n', 'sh', '-c', `${setup}; echo ready; exec sleep 600`], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
}

describe('namespace facts on this kernel', { skip }, () => {
  let a: ChildProcess;
  let b: ChildProcess;
  before(async () => {
    a = await holder('sysctl -qw net.ipv4.ip_local_port_range="40000 40199" net.ipv4.ip_local_reserved_ports=40010 net.ipv4.tcp_tw_reuse=1 net.ipv4.tcp_tw_reuse_delay=5000 net.ipv4.tcp_timestamps=0');
    b = await holder('true');
  });
  after(() => {
    a?.kill();
    b?.kill();
  });

  test('a namespace made inside another starts at the kernel defaults, not at its creator\'s values', () => {
    const inA = sh(`nsenter --net=/proc/${a.pid}/ns/net sysctl ${SYSCTLS.join(' ')}`);
    assert.match(inA, /ip_local_port_range = 40000\t40199/);
    const nested = sh(`nsenter --net=/proc/${a.pid}/ns/net unshare -n sysctl ${SYSCTLS.join(' ')}`);
    assert.equal(nested, 'net.ipv4.ip_local_port_range = 32768\t60999\nnet.ipv4.ip_local_reserved_ports = \nnet.ipv4.tcp_tw_reuse = 2\nnet.ipv4.tcp_tw_reuse_delay = 1000\nnet.ipv4.tcp_timestamps = 1\n');
  });

  test('/proc/sys answers for the reader\'s namespace, even through another process\'s root', () => {
    const mine = sh('cat /proc/sys/net/ipv4/ip_local_port_range');
    assert.equal(sh(`cat /proc/${a.pid}/root/proc/sys/net/ipv4/ip_local_port_range`), mine);
    assert.notEqual(mine, '40000\t40199\n');
    assert.equal(sh(`nsenter --net=/proc/${a.pid}/ns/net cat /proc/sys/net/ipv4/ip_local_port_range`), '40000\t40199\n');
  });

  test('net/tcp\'s inode is one per namespace and readable by anyone; another user\'s ns/net link is not', () => {
    const tables = (pid: number | string) => statSync(`/proc/${pid}/net/tcp`).ino;
    assert.notEqual(tables(a.pid!), tables(b.pid!));
    assert.notEqual(tables(a.pid!), tables('self'));
    // Two processes of one namespace: the same inode.
    assert.equal(Number(sh(`nsenter --net=/proc/${a.pid}/ns/net sh -c 'stat -c %i /proc/$$/net/tcp'`)), tables(a.pid!));
    const asNobody = sh(`setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'stat -c %i /proc/${a.pid}/net/tcp; readlink /proc/${a.pid}/ns/net || echo refused'`);
    assert.equal(asNobody, `${tables(a.pid!)}\nrefused\n`);
  });
});
