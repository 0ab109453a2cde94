import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { KernelError } from '../../src/host/errors';
import type { ChildProcess, Host } from '../../src/host/host';
import { nodeHost } from '../../src/host/node-host';
import type { SocketSink } from '../../src/model/records';
import { readCounted, testReading } from './reading';
import { diagArguments, SS_PATHS, ssArguments } from '../../src/sources/sockets/ss-source';
import { diagRecords, socketsOfText } from './diag-records';
import { run } from '../../src/run';
import { FIXTURES } from '../helpers';

const SAME_HOST = join(FIXTURES, 'ss', 'same-host');
const PROC = join(SAME_HOST, 'proc');
const SS_OUTPUT = readFileSync(join(SAME_HOST, 'ss-tuano.txt'));
// The capture split the way `ss -4` and `ss -6` list it: IPv6 (and IPv4-mapped) sockets
// are the bracketed ones and the dual-stack wildcards (`*`).
const V6 = /\[|\s\*:/;
const SS_LINES = SS_OUTPUT.toString('latin1').split('\n');
const SS_V4 = Buffer.from(SS_LINES.filter((line) => !V6.test(line)).join('\n'), 'latin1');
const SS_V6 = Buffer.from(`${SS_LINES.filter((line) => V6.test(line)).join('\n')}\n`, 'latin1');

/** The TCP sockets of a text listing as the records `ss -D -` prints (diag.ts). */
function recordsOf(text: Uint8Array, family: 4 | 6): Buffer {
  return diagRecords(socketsOfText(text, new Uint8Array(65536).fill(1), family));
}

/** The UDP lines of a text listing: what `ss -4unaoH` prints. */
function udpOf(text: Uint8Array): Buffer {
  return Buffer.from(`${Buffer.from(text).toString('latin1').split('\n').filter((line) => line.startsWith('udp')).join('\n')}\n`, 'latin1');
}

class Counter implements SocketSink {
  readonly addresses = new AddressTable();
  tcpCount = 0;
  udpCount = 0;
  tcp(): void {
    this.tcpCount++;
  }
  udp(): void {
    this.udpCount++;
  }
}

interface FakeRun {
  /** What `ss -4` prints; `ss -6` prints chunks6 (nothing by default). */
  readonly chunks: Uint8Array[];
  readonly chunks6?: Uint8Array[];
  readonly code?: number | null;
  readonly stderr?: string;
  /** An old iproute2: -H is an invalid option. */
  readonly old?: boolean;
  /** Print the chunks as they are, whatever the arguments. */
  readonly raw?: boolean;
}

/** The fixture's /proc through nodeHost; ss replaced by canned output at the paths given. */
function fakeHost(programs: Record<string, FakeRun>): Host & { spawned: string[][]; killed: number } {
  const host = {
    littleEndian: nodeHost.littleEndian,
    elevated: null,
    readText: nodeHost.readText,
    open: nodeHost.open,
    spawned: [] as string[][],
    killed: 0,
    findProgram(paths: readonly string[]): string {
      const found = paths.find((path) => programs[path] !== undefined);
      if (found === undefined) throw new KernelError('ss', `not found in ${paths.join(', ')}`);
      return found;
    },
    async spawn(file: string, args: readonly string[]): Promise<ChildProcess | undefined> {
      host.spawned.push([file, ...args]);
      let program = programs[file];
      if (program === undefined) return undefined;
      if (program.old && args[0].includes('H')) program = { chunks: [], code: 255, stderr: "ss: invalid option -- 'H'\nUsage: ss [ OPTIONS ]\n" };
      const v6 = args.some((a) => a.startsWith('-6'));
      const text = Buffer.concat(v6 ? (program.chunks6 ?? []) : program.chunks);
      // ss -D prints the TCP sockets as records; -u alone, the UDP lines; else all of it.
      const chunks = program.code === 255 ? [] : program.raw ? (v6 ? (program.chunks6 ?? []) : program.chunks) : args[0] === '-D' ? [recordsOf(text, v6 ? 6 : 4)] : /^-[46]u/.test(args[0]) ? [udpOf(text)] : v6 ? (program.chunks6 ?? []) : program.chunks;
      return {
        async drain(onChunk) {
          for (const chunk of chunks) {
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
  return readCounted(testReading(host, PROC, { source: choice, signal }), want, { range, usable }, () => new Counter());
}

describe('the ss source', () => {
  it('asks ss for every state, numeric, with timers, filtered on the range', () => {
    assert.deepEqual(ssArguments({ tcp: true, udp: true }, range, 4), ['-4tunaoH', '( sport >= :40000 and sport <= :40199 )']);
    assert.deepEqual(ssArguments({ tcp: true, udp: false }, range, 6), ['-6tnaoH', '( sport >= :40000 and sport <= :40199 )']);
    assert.deepEqual(ssArguments({ tcp: false, udp: true }, range, 4, true), ['-4unao', '( sport >= :40000 and sport <= :40199 )']);
  });

  it('lists each family with its own ss, side by side: TCP as records, UDP as filtered text', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [SS_V4], chunks6: [SS_V6] } });
    const result = await read(host, 'ss');
    assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    assert.deepEqual(
      host.spawned.map((argv) => argv.slice(0, 4).join(' ')),
      ['/usr/bin/ss -D - -4tan', '/usr/bin/ss -D - -6tan', `/usr/bin/ss -4unaoH ${ssArguments({ tcp: false, udp: true }, range, 4)[1]}`, `/usr/bin/ss -6unaoH ${ssArguments({ tcp: false, udp: true }, range, 6)[1]}`],
    );
    assert.deepEqual(diagArguments(6), ['-D', '-', '-6tan']);
  });

  it('asks again with a header when ss is too old for -H', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [SS_V4], chunks6: [SS_V6], old: true } });
    const result = await read(host, 'ss');
    assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    assert.deepEqual(host.spawned.map((argv) => argv[1]).sort(), ['-4unao', '-4unaoH', '-6unao', '-6unaoH', '-D', '-D']);
  });

  it('one failing listing kills the other', async () => {
    let killed = 0;
    const host: Host = {
      ...nodeHost,
      // -4 hangs, -6 fails at once: -4 must not be waited for.
      spawn: async (_file, args, signal) =>
        args[0].startsWith('-4')
          ? nodeHost.spawn?.('/bin/sleep', ['30'], (signal.addEventListener('abort', () => killed++), signal))
          : nodeHost.spawn?.('/bin/sh', ['-c', 'echo broken >&2; exit 2'], signal),
    };
    const started = Date.now();
    await assert.rejects(read(host, 'ss'), /exit status 2: broken/);
    assert.equal(killed, 1);
    assert.ok(Date.now() - started < 5000);
  });

  it('streams the output, whatever the chunk sizes, into the sink', async () => {
    for (const size of [1, 13, 4096, SS_OUTPUT.length]) {
      const result = await read(fakeHost({ '/usr/sbin/ss': { chunks: pieces(SS_V4, size), chunks6: pieces(SS_V6, size) } }), 'ss');
      assert.equal(result.source, 'ss');
      assert.equal(result.fallback, null);
      assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    }
  });

  it('runs the ss the host found where distributions put it', async () => {
    const host = fakeHost({ '/sbin/ss': { chunks: [SS_V4] } });
    await read(host, 'ss');
    assert.deepEqual(host.spawned.map((argv) => argv[0]), ['/sbin/ss', '/sbin/ss', '/sbin/ss', '/sbin/ss']);
    assert.deepEqual(SS_PATHS, ['/usr/bin/ss', '/usr/sbin/ss', '/bin/ss', '/sbin/ss']);
  });

  it('--source ss: a missing or failing ss is an error', async () => {
    await assert.rejects(read(fakeHost({}), 'ss'), /ss: not found in \/usr\/bin\/ss, \/usr\/sbin\/ss, \/bin\/ss, \/sbin\/ss/);
    await assert.rejects(read(fakeHost({ '/usr/bin/ss': { chunks: [], code: 1, stderr: 'Cannot open netlink socket\nmore' } }), 'ss'), /\/usr\/bin\/ss: exit status 1: Cannot open netlink socket$/);
    await assert.rejects(read({ ...nodeHost, spawn: undefined }, 'ss'), /cannot run programs/);
  });

  it('--source ss: unreadable output is an error, and ss is killed', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [Buffer.from('ESTAB 0 0 127.0.0.1:40001 127.0.0.1:80\n')], raw: true } });
    await assert.rejects(read(host, 'ss'), (err: unknown) => err instanceof KernelError && /^\/usr\/bin\/ss: (record 1|line 1): /.test(err.message));
    assert.equal(host.killed, 4); // every listing's ss: a no-op for one that has ended
  });

  it('--source auto: falls back to /proc when ss is missing, fails or is unreadable, and says so', async () => {
    const cases: Record<string, FakeRun>[] = [{}, { '/usr/bin/ss': { chunks: [SS_V4], code: 1 } }, { '/usr/bin/ss': { chunks: [SS_V4], chunks6: [Buffer.from('tcp WHAT 0 0 a:1 b:2\n')] } }];
    for (const programs of cases) {
      const result = await read(fakeHost(programs), 'auto');
      assert.equal(result.source, 'proc');
      assert.match(result.fallback ?? '', /^ss unusable \(.+\): read .*same-host\/proc\/net instead$/);
      // A fresh sink: nothing half-read from ss is counted twice.
      assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    }
  });

  it('--source auto uses ss when it works; --source proc never runs it', async () => {
    const host = fakeHost({ '/usr/bin/ss': { chunks: [SS_V4], chunks6: [SS_V6] } });
    assert.equal((await read(host, 'auto')).source, 'ss');
    assert.equal((await read(host, 'proc')).source, 'proc');
    assert.equal(host.spawned.length, 4);
  });
});

describe('a stalled ss under auto: /proc answers with the rest of -t', () => {
  /** An ss that never answers: sleep, through the real spawn (so the kill is real). */
  const hanging = (children: ChildProcess[]): Host => ({
    ...nodeHost,
    readText: (p) => nodeHost.readText(p.replace(/^\/proc/, PROC)),
    open: (p) => nodeHost.open(p.replace(/^\/proc/, PROC)),
    spawn: async (_file, _args, signal) => {
      const child = await nodeHost.spawn?.('/bin/sleep', ['30'], signal);
      if (child) children.push(child);
      return child;
    },
  });

  it('readSockets: ss killed at its budget, /proc read, the reason given', async () => {
    const children: ChildProcess[] = [];
    const started = Date.now();
    const result = await readCounted(testReading(hanging(children), PROC, { ssBudgetMs: 200 }), want, { range, usable }, () => new Counter());
    assert.equal(result.source, 'proc');
    assert.equal(result.fallback, `ss gave no answer within 0.2 s (its share of -t): killed it, read ${PROC}/net instead`);
    assert.deepEqual([result.sink.tcpCount, result.sink.udpCount], [26, 5]);
    assert.ok(Date.now() - started < 5000);
    // Every listing's ss was killed and reaped before /proc was read.
    assert.equal(children.length, 4);
    for (const child of children) assert.equal((await child.drain(() => {})).signal, 'SIGKILL');
  });

  it('run(): an answer from /proc within -t, said in -v and JSON', async () => {
    const children: ChildProcess[] = [];
    // Not "timed out": the check's own -t is the bound.
    const text = await run(['-t', '1', '-v'], hanging(children));
    assert.match(text.stdout, /^EPHEMERAL PORTS (OK|WARNING|CRITICAL) - /);
    assert.match(text.stdout, /^ss gave no answer within 0\.5 s \(its share of -t\): killed it, read \/proc\/net instead$/m);
    const json = JSON.parse((await run(['-t', '1', '--format', 'json'], hanging(children))).stdout);
    assert.equal(json.kernel.socketSource, 'proc');
    assert.ok(json.kernel.assumptions.includes('ss gave no answer within 0.5 s (its share of -t): killed it, read /proc/net instead'), JSON.stringify(json.kernel));
    for (const child of children) assert.equal((await child.drain(() => {})).signal, 'SIGKILL');
  });

  it('--source ss: a stall stays an UNKNOWN naming ss', async () => {
    const children: ChildProcess[] = [];
    const r = await run(['-t', '0.5', '--source', 'ss'], hanging(children));
    assert.equal(r.exitCode, 3);
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - timed out after 0.5 s while reading the output of \/usr\/bin\/ss\n$/);
    for (const child of children) assert.equal((await child.drain(() => {})).signal, 'SIGKILL');
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

  it('a missing program is an error naming it, before any fork', async () => {
    await assert.rejects(nodeHost.spawn?.('/nonexistent/ss', [], new AbortController().signal) ?? Promise.resolve(), /^Error: \/nonexistent\/ss: not found$/);
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
