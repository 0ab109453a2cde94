/**
 * ss and /proc read the same kernel: on the same real sockets the whole check must give the
 * same answer through either source. The sockets live in a private namespace built by
 * sockets.py (loopback only); the committed bundle runs inside it via nsenter.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUNDLE, groundTruthUnavailable, skipUnless } from '../helpers';

const SOCKETS = join(__dirname, 'sockets.py');

describe('ss and /proc agree on real sockets', { skip: skipUnless(groundTruthUnavailable()) }, () => {
  let holder: ReturnType<typeof spawn> | undefined;
  let pid = 0;

  let out = '';
  /** Resolves when sockets.py has printed `word` once more. */
  function answer(word: string): Promise<void> {
    const seen = out.split('\n').filter((line) => line === word).length;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sockets.py did not say ${word} within 30 s`)), 30_000);
      const onData = () => {
        if (out.split('\n').filter((line) => line === word).length > seen) {
          clearTimeout(timer);
          holder?.stdout?.off('data', onData);
          resolve();
        }
      };
      holder?.stdout?.on('data', onData);
      holder?.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sockets.py exited with ${code}`));
      });
    });
  }

  /**
   * New TIME_WAIT sockets, younger than the reuse delay for the next few seconds; sockets.py
   * moves the delay so that no earlier fresh one crosses it while the sources are compared.
   */
  async function freshTimeWait(): Promise<void> {
    const done = answer('fresh');
    holder?.stdin?.write('fresh\n');
    await done;
  }

  before(async () => {
    // unshare execs python3 in place: its pid names the namespace for nsenter.
    holder = spawn('unshare', ['-n', 'python3', SOCKETS], { stdio: ['pipe', 'pipe', 'inherit'] });
    holder.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await answer('ready');
    pid = holder.pid as number;
  });

  after(async () => {
    if (holder === undefined || holder.exitCode !== null) return;
    const exited = new Promise((resolve) => holder?.once('exit', resolve));
    holder.stdin?.end(); // sockets.py holds its sockets until stdin closes
    const timer = setTimeout(() => holder?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });

  function check(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync('nsenter', ['-t', String(pid), '-n', BUNDLE, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('gives the same JSON, tuple for tuple', async () => {
    await freshTimeWait();
    const ss = check('--source', 'ss', '--format', 'json', '--top', '0');
    const proc = check('--source', 'proc', '--format', 'json', '--top', '0');
    assert.equal(ss.stderr, '');
    assert.equal(proc.stderr, '');
    assert.equal(ss.status, 0);
    assert.equal(proc.status, 0);
    const fromSs = JSON.parse(ss.stdout);
    const fromProc = JSON.parse(proc.stdout);
    // Each says where it read the sockets; nothing else legitimately differs: both sources
    // deliver the same sockets, addresses and states; TIME_WAIT ages differ in resolution
    // only, seconds away from the reuse delay (sockets.py keeps them so).
    assert.equal(fromSs.kernel.socketSource, 'ss');
    assert.equal(fromProc.kernel.socketSource, 'proc');
    fromProc.kernel.socketSource = 'ss';
    assert.deepEqual(fromSs, fromProc);

    // And the sockets are all there (sockets.py): otherwise agreeing would prove little.
    assert.equal(fromSs.listeningPorts, 3); // 40010, 40011, 40012; 40195 is reserved
    assert.equal(fromSs.reserved, 10);
    assert.deepEqual(fromSs.tcp, { socketsInRange: 26, timeWait: 7, timeWaitReusable: 4, sharedPorts: fromSs.tcp.sharedPorts });
    const tuples = new Map<string, { family: number; states: Record<string, number>; used: number }>(
      fromSs.tuples.filter((t: { protocol: string }) => t.protocol === 'tcp').map((t: { local: string; remote: string; remotePort: number }) => [`${t.local} ${t.remote}:${t.remotePort}`, t]),
    );
    assert.equal(tuples.get('127.0.0.1 127.0.0.1:9000')?.family, 4); // IPv4-mapped clients
    assert.equal(tuples.get('127.0.0.1 127.0.0.1:9000')?.used, 2);
    assert.equal(tuples.get('127.0.0.2 127.0.0.1:9000')?.used, 1);
    assert.equal(tuples.get('::1 ::1:8443')?.used, 3); // one of them bound to lo
    assert.equal(tuples.get('127.0.0.3 127.0.0.1:8080')?.used, 1); // bound to lo
    assert.deepEqual(tuples.get('127.0.0.1 127.0.0.1:7000')?.states, { ESTABLISHED: 1, SYN_SENT: 2 });
    assert.deepEqual(tuples.get('127.0.0.4 127.0.0.1:8080')?.states, { FIN_WAIT2: 1, CLOSE_WAIT: 1 });
    assert.deepEqual(tuples.get('127.0.0.5 127.0.0.1:8081'), { ...tuples.get('127.0.0.5 127.0.0.1:8081'), used: 0, timeWaitReusable: 3 });
    assert.deepEqual(tuples.get('127.0.0.6 127.0.0.1:8081'), { ...tuples.get('127.0.0.6 127.0.0.1:8081'), used: 2, timeWaitReusable: 0 });
    assert.deepEqual(tuples.get('::1 ::1:8444'), { ...tuples.get('::1 ::1:8444'), used: 0, timeWaitReusable: 1 });
    assert.deepEqual(tuples.get('::1 ::1:8445'), { ...tuples.get('::1 ::1:8445'), used: 1, timeWaitReusable: 0 });
    assert.equal(tuples.has('127.0.0.1 127.0.0.9:30000'), false); // accepted by an in-range listener
    const udp = fromSs.tuples.find((t: { protocol: string }) => t.protocol === 'udp');
    assert.equal(udp.used, 5); // 40191 is reserved
  });

  it('gives the same text, and auto reads /proc in a namespace this small', async () => {
    await freshTimeWait();
    const ss = check('--source', 'ss', '-vv', '--top', '0');
    const proc = check('--source', 'proc', '-vv', '--top', '0');
    const auto = check('-vv', '--top', '0');
    // Only the line naming the source differs.
    assert.match(ss.stdout, /\nsockets read with ss /);
    assert.equal(ss.stdout.replace(/\nsockets read with ss [^\n]*/, '\nsockets read from /proc/net'), proc.stdout);
    // A few dozen sockets (sockstat): cheaper to read than to start ss for.
    assert.equal(auto.stdout, proc.stdout);
    assert.doesNotMatch(auto.stdout, /ss unusable/);
  });
});

describe('ss on a server: most sockets out of the range', { skip: skipUnless(groundTruthUnavailable()) }, () => {
  // 4,200 sockets with both ends below the range (a server's inbound connections) and 300
  // clients in it: fewer than a quarter of the first sockets ss -D lists are in range, so
  // the check reads ss's filtered text instead (diag.ts, SparseListing). Both ways, and
  // /proc, must say the same.
  it('the filtered listing gives the same JSON as /proc', () => {
    const json = ['--format', 'json', '--top', '0'];
    const script = `${BUNDLE} --source ss ${json.join(' ')}; echo =====; ${BUNDLE} --source proc ${json.join(' ')}`;
    const r = spawnSync('unshare', ['-n', 'python3', join(__dirname, '..', 'busy-netns.py'), '2100/300', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.stderr, '');
    const [ss, proc] = r.stdout.split('=====\n').map((part) => JSON.parse(part));
    assert.equal(ss.kernel.socketSource, 'ss');
    assert.equal(ss.tcp.socketsInRange, 300);
    assert.deepEqual({ ...ss, kernel: { ...ss.kernel, socketSource: 'proc' } }, proc);
  });
});
