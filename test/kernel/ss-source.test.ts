import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Family } from '../../src/kernel/address';
import { KernelError } from '../../src/kernel/errors';
import type { ChildProcess, Host } from '../../src/kernel/host';
import { nodeHost } from '../../src/kernel/node-host';
import type { SocketSink } from '../../src/kernel/records';
import { readSockets } from '../../src/kernel/sockets';
import { SS_PATHS, ssArguments } from '../../src/kernel/ss-source';
import { run } from '../../src/run';
import { FIXTURES } from '../helpers';

const SAME_HOST = join(FIXTURES, 'ss', 'same-host');
const PROC = join(SAME_HOST, 'proc');
const SS_OUTPUT = readFileSync(join(SAME_HOST, 'ss-tuano.txt'));

class Counter implements SocketSink {
  tcpCount = 0;
  udpCount = 0;
  tcp(_f: Family, _l: string, _lp: number, _r: string, _rp: number, _s: number, _a: number): void {
    this.tcpCount++;
  }
  udp(): void {
    this.udpCount++;
  }
}

interface FakeRun {
  readonly chunks: Uint8Array[];
  readonly code?: number | null;
  readonly stderr?: string;
}

/** The fixture's /proc through nodeHost; ss replaced by canned output at the paths given. */
function fakeHost(programs: Record<string, FakeRun>): Host & { spawned: string[][]; killed: number } {
  const host = {
    littleEndian: nodeHost.littleEndian,
    readText: nodeHost.readText,
    open: nodeHost.open,
    spawned: [] as string[][],
    killed: 0,
    async spawn(file: string, args: readonly string[]): Promise<ChildProcess | undefined> {
      host.spawned.push([file, ...args]);
      const program = programs[file];
      if (program === undefined) return undefined;
      return {
        async drain(onChunk) {
          for (const chunk of program.chunks) {
            await Promise.resolve();
            onChunk(chunk);
          }
          return { code: program.code === undefined ? 0 : program.code, signal: program.code === null ? 'SIGKILL' : null, stderr: program.stderr ?? '' };
        },
        kill: () => void host.killed++,
      };
    },
  };
  return host;
}

/** The output cut into pieces of `size` bytes. */
function pieces(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

const want = { tcp: true, udp: true };
const range = { low: 40000, high: 40199 };
const usable = new Uint8Array(65536).fill(1, 40000, 40190);

function read(host: Host, choice: 'auto' | 'ss' | 'proc', signal = new AbortController().signal) {
  return readSockets(host, choice, PROC, want, range, usable, () => new Counter(), () => {}, signal);
}

describe('the ss source', () => {
  it('asks ss for every state, numeric, with timers, filtered on the range', () => {
    assert.deepEqual(ssArguments({ tcp: true, udp: true }, range), ['-tunao', '( sport >= :40000 and sport <= :40199 )']);
    assert.deepEqual(ssArguments({ tcp: true, udp: false }, range), ['-tnao', '( sport >= :40000 and sport <= :40199 )']);
  });

  it('streams the output, whatever the chunk sizes, into the sink', async () => {
    for (const size of [1, 13, 4096, SS_OUTPUT.length]) {
      const result = await read(fakeHost({ '/usr/sbin/ss': { chunks: pieces(SS_OUTPUT, size) } }), 'ss');
      assert.equal(result.source, 'ss');
      assert.equal(result.fallback, null);
      assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    }
  });

  it('looks for ss where distributions put it, in order', async () => {
    const host = fakeHost({ '/sbin/ss': { chunks: [SS_OUTPUT] } });
    await read(host, 'ss');
    assert.deepEqual(host.spawned.map((argv) => argv[0]), SS_PATHS);
  });

  it('--source ss: a missing or failing ss is an error', async () => {
    await assert.rejects(read(fakeHost({}), 'ss'), /ss: not found in \/usr\/bin\/ss, \/usr\/sbin\/ss, \/bin\/ss, \/sbin\/ss/);
    await assert.rejects(read(fakeHost({ '/usr/bin/ss': { chunks: [], code: 1, stderr: 'Cannot open netlink socket\nmore' } }), 'ss'), /\/usr\/bin\/ss: exit status 1: Cannot open netlink socket$/);
    await assert.rejects(read({ ...nodeHost, spawn: undefined }, 'ss'), /cannot run programs/);
  });

  it('--source ss: unreadable output is an error, and ss is killed', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [Buffer.from('ESTAB 0 0 127.0.0.1:40001 127.0.0.1:80\n')] } });
    await assert.rejects(read(host, 'ss'), (err: unknown) => err instanceof KernelError && /no Netid column/.test(err.message));
    assert.equal(host.killed, 1);
  });

  it('--source auto: falls back to /proc when ss is missing, fails or is unreadable, and says so', async () => {
    const cases: Record<string, FakeRun>[] = [{}, { '/usr/bin/ss': { chunks: [SS_OUTPUT], code: 1 } }, { '/usr/bin/ss': { chunks: [Buffer.from('tcp WHAT 0 0 a:1 b:2\n')] } }];
    for (const programs of cases) {
      const result = await read(fakeHost(programs), 'auto');
      assert.equal(result.source, 'proc');
      assert.match(result.fallback ?? '', /^ss unusable \(.+\): read .*same-host\/proc\/net instead$/);
      // A fresh sink: nothing half-read from ss is counted twice.
      assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    }
  });

  it('--source auto uses ss when it works; --source proc never runs it', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [SS_OUTPUT] } });
    assert.equal((await read(host, 'auto')).source, 'ss');
    assert.equal((await read(host, 'proc')).source, 'proc');
    assert.equal(host.spawned.length, 1);
  });
});

describe('a child is never left behind', () => {
  it('aborting the signal kills a running program', async () => {
    const stop = new AbortController();
    const child = await nodeHost.spawn?.('/bin/sleep', ['30'], stop.signal);
    assert.ok(child);
    stop.abort();
    assert.deepEqual(await child.drain(() => {}), { code: null, signal: 'SIGKILL', stderr: '' });
  });

  it('a missing program is undefined, not an error', async () => {
    assert.equal(await nodeHost.spawn?.('/nonexistent/ss', [], new AbortController().signal), undefined);
  });

  it('streams stdout and reports the exit status', async () => {
    const child = await nodeHost.spawn?.('/bin/sh', ['-c', 'echo one; echo two; echo oops >&2; exit 3'], new AbortController().signal);
    assert.ok(child);
    let text = '';
    const end = await child.drain((chunk) => (text += Buffer.from(chunk).toString()));
    assert.equal(text, 'one\ntwo\n');
    assert.deepEqual(end, { code: 3, signal: null, stderr: 'oops\n' });
  });

  it('a consumer that throws kills the program and gets its error back', async () => {
    const child = await nodeHost.spawn?.('/bin/sh', ['-c', 'echo one; exec sleep 30'], new AbortController().signal);
    assert.ok(child);
    const started = Date.now();
    await assert.rejects(
      child.drain(() => {
        throw new Error('unreadable');
      }),
      /unreadable/,
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('a timeout kills the ss the check is waiting for', async () => {
    let child: ChildProcess | undefined;
    const host: Host = {
      ...nodeHost,
      readText: (p) => nodeHost.readText(p.replace(/^\/proc/, PROC)),
      // ss that hangs: the check must give up at its timeout and kill it.
      spawn: async (_file, _args, signal) => (child = await nodeHost.spawn?.('/bin/sleep', ['30'], signal)),
    };
    const started = Date.now();
    const result = await run(['--source', 'ss', '-t', '0.3'], host);
    assert.equal(result.exitCode, 3);
    assert.match(result.stdout, /^EPHEMERAL PORTS UNKNOWN - timed out after 0.3 s while reading the output of \/usr\/bin\/ss/);
    assert.ok(child);
    assert.equal((await child.drain(() => {})).signal, 'SIGKILL');
    assert.ok(Date.now() - started < 5000);
  });

  it('a stop signal (SIGTERM from the scheduler) kills it too', async () => {
    let child: ChildProcess | undefined;
    const stop = new AbortController();
    const host: Host = {
      ...nodeHost,
      readText: (p) => nodeHost.readText(p.replace(/^\/proc/, PROC)),
      spawn: async (_file, _args, signal) => {
        child = await nodeHost.spawn?.('/bin/sleep', ['30'], signal);
        setTimeout(() => stop.abort('SIGTERM'), 50);
        return child;
      },
    };
    const result = await run(['--source', 'ss'], host, stop.signal);
    assert.match(result.stdout, /^EPHEMERAL PORTS UNKNOWN - stopped by SIGTERM while reading the output of/);
    assert.ok(child);
    assert.equal((await child.drain(() => {})).signal, 'SIGKILL');
  });
});
