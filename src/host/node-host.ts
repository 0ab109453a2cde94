import { closeSync, constants, openSync, readdirSync, readlinkSync, readSync, statSync } from 'node:fs';
import { availableParallelism, cpus, endianness } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelError } from './errors';
import { trustedProgram } from './programs';
import type { ChildProcess, Host, OpenFile } from './host';
import { nodeTraceDoor } from './tracefs';

/** How long a synchronous read loop may hold the event loop. */
const YIELD_MS = 20;

/** How long to wait before asking again when a read would block. */
const RETRY_MS = 5;

/** Enough of a child's stderr to say why it failed. */
const STDERR_KEPT = 2048;

/**
 * How much of a child's output may pass between two young-generation collections. Node
 * reads a pipe into a fresh allocation per read (64 KiB), freed only when a collection
 * finds it dead; a parser that allocates nothing per record never triggers one, so a
 * listing of 25 MB left 25 MB of dead reads behind, each on pages never touched before
 * (a page fault each, 12-28 µs on the test machine). Collected every MiB, the same few pages
 * serve every read: measured on 200,000 sockets, ss -D drained in 303-324 ms instead of
 * 379-508, with 3,000 fewer page faults and 9 MiB less peak memory.
 */
const COLLECT_EVERY_BYTES = 1 << 20;

/**
 * Typed-array memory past which reclaim() makes a full collection. A namespace's tables
 * (rows for its sockets, arrays over the 65,536 ports) outlive its judgement in the old
 * generation, where the young collections during its read promote them, and V8 collects
 * there only once far more has piled up. Measured on 50 namespaces of 10,000 sockets (6
 * runs alternating): peak RSS 119 MiB without, 71 past 16 MiB, 77 past 24, 85 past 32. A full
 * collection takes 16-31 ms there (after a fork, every heap page it writes is a page
 * fault), so not one per namespace: past 24 MiB, the run took 6.3 s against 6.1.
 */
const RECLAIM_ABOVE_BYTES = 24 << 20;

interface Collector {
  young(): void;
  full(): void;
}

/**
 * Collections on request, through the `gc` function of a context made with --expose-gc
 * (the flag is read when a context is made; Node exposes nothing else for it): gc() is a
 * full collection, gc({ type: 'minor' }) a young one. Null when this Node refuses: reads
 * then cost more memory, nothing else.
 */
function makeCollector(): Collector | null {
  try {
    // Loaded only when a program's output is read: node:v8 alone costs 15 ms to load.
    const { setFlagsFromString } = require('node:v8') as typeof import('node:v8');
    const { runInNewContext } = require('node:vm') as typeof import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return null;
    return { young: () => gc({ type: 'minor' }), full: () => gc() };
  } catch {
    return null;
  }
}

/** Made when first needed; null for good when this Node refuses (not asked again). */
let made: Collector | null | undefined;

function collector(): Collector | null {
  if (made === undefined) made = makeCollector();
  return made;
}

/** Node errors → what an operator can act on; a missing file is an answer, not an error. */
function missingOrThrow(path: string, err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  if (code === 'EACCES' || code === 'EPERM') throw new KernelError(path, 'permission denied');
  throw new KernelError(path, `cannot read (${code ?? String(err)})`);
}

/**
 * Opens without ever blocking in the kernel. /proc files never block; anything else in a
 * --proc copy (a FIFO) must not pin the process, or -t and SIGTERM could not answer.
 */
function openNonBlocking(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return missingOrThrow(path, err);
  }
}

/** One read, -1 when it would block. */
function readNow(fd: number, path: string, into: Uint8Array, offset: number, length: number): number {
  try {
    return readSync(fd, into, offset, length, null);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EAGAIN') throw new KernelError(path, `cannot read (${code ?? String(err)})`);
    return -1;
  }
}

/** One read; when it would block, wait a little (timers and signals run) and ask again. */
async function readSome(fd: number, path: string, into: Uint8Array, offset: number, length: number): Promise<number> {
  for (;;) {
    const n = readNow(fd, path, into, offset, length);
    if (n !== -1) return n;
    await sleep(RETRY_MS);
  }
}

/**
 * Why a run has more privileges than its caller: started through sudo (or doas, pkexec:
 * they leave these variables; a forged one only makes the check stricter), or a real id
 * that differs from the effective one (a set-user-ID or set-group-ID bit).
 */
export function elevation(ids: { uid: number; euid: number; gid: number; egid: number }, env: NodeJS.ProcessEnv): string | null {
  for (const name of ['SUDO_UID', 'SUDO_USER', 'DOAS_USER', 'PKEXEC_UID']) {
    if (env[name] !== undefined) return `${name} is set: started through ${name.split('_')[0].toLowerCase()}`;
  }
  if (ids.uid !== ids.euid) return `real uid ${ids.uid}, effective uid ${ids.euid}`;
  if (ids.gid !== ids.egid) return `real gid ${ids.gid}, effective gid ${ids.egid}`;
  return null;
}

/** Runs fn; a missing path is undefined, anything else a KernelError naming the path. */
function attempt<T>(path: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    return missingOrThrow(path, err);
  }
}

export const nodeHost: Host = {
  littleEndian: endianness() === 'LE',
  elevated: elevation({ uid: process.getuid?.() ?? 0, euid: process.geteuid?.() ?? 0, gid: process.getgid?.() ?? 0, egid: process.getegid?.() ?? 0 }, process.env),

  findProgram: trustedProgram,
  euid: process.geteuid?.(),
  // availableParallelism came with Node 18.14 (it honours CPU affinity); cpus() before it.
  parallelism: typeof availableParallelism === 'function' ? availableParallelism() : Math.max(1, cpus().length),

  // Synchronous reads: a handful of one-line sysctl files, faster than a thread-pool trip.
  async readText(path) {
    const fd = openNonBlocking(path);
    if (fd === undefined) return undefined;
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = Buffer.alloc(4096);
        const n = await readSome(fd, path, chunk, 0, chunk.length);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        if (chunks.length > 256) throw new KernelError(path, 'larger than 1 MiB: not a sysctl');
      }
      return Buffer.concat(chunks).toString('latin1');
    } finally {
      closeSync(fd);
    }
  },

  async open(path): Promise<OpenFile | undefined> {
    const fd = openNonBlocking(path);
    if (fd === undefined) return undefined;
    let lastYield = Date.now();
    return {
      // /proc/net tables come one page per read(): a thread-pool round trip per page costs
      // more than the read, so read synchronously, and let the event loop run (timeout,
      // signals) every 20 ms. Between two, pages are read on until the buffer is full, so
      // that the caller's awaits and parse calls go per buffer, not per page (4,741 pages
      // for 100,000 conntrack entries).
      async read(into, offset, length) {
        if (Date.now() - lastYield >= YIELD_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = Date.now();
        }
        let total = await readSome(fd, path, into, offset, length);
        while (total > 0 && total < length && Date.now() - lastYield < YIELD_MS) {
          const n = readNow(fd, path, into, offset + total, length - total);
          // The end (the next read says so again), or nothing yet: what is here is returned.
          if (n <= 0) break;
          total += n;
        }
        return total;
      },
      close: async () => closeSync(fd),
    };
  },

  // Synchronous: /proc directories and links answer from memory, without a thread-pool trip.
  async listDir(path) {
    return attempt(path, () => readdirSync(path));
  },

  async readLink(path) {
    return attempt(path, () => readlinkSync(path));
  },

  async stat(path) {
    return attempt(path, () => {
      const s = statSync(path);
      return { inode: s.ino, uid: s.uid };
    });
  },

  async readLinks(dir) {
    const names = attempt(dir, () => readdirSync(dir));
    if (names === undefined) return undefined;
    const found: string[] = [];
    const targets: string[] = [];
    for (const name of names) {
      // A descriptor closed since the listing is simply gone.
      const target = attempt(`${dir}/${name}`, () => readlinkSync(`${dir}/${name}`));
      if (target === undefined) continue;
      found.push(name);
      targets.push(target);
    }
    return { names: found, targets };
  },

  async spawn(file, args, signal): Promise<ChildProcess | undefined> {
    // The gate again, whoever called: nothing runs that is not root's alone. It also
    // spares a fork for a program that is missing.
    const real = trustedProgram([file]);
    // Loaded only when a program is run (a dynamic import() would start the ESM loader).
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    // LC_ALL=C: untranslated output; and no PROC_ROOT or PROC_NET_* that would redirect ss.
    const child = spawn(real, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { LC_ALL: 'C' }, signal, killSignal: 'SIGKILL' });
    const closed = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('close', (code, sig) => resolve({ code, signal: sig })));
    let stderr = '';
    child.stderr.setEncoding('latin1');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < STDERR_KEPT) stderr += text.slice(0, STDERR_KEPT - stderr.length);
    });
    const started = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    // Later errors are the abort (the kill is what we wanted) or a failed kill: `close` tells.
    child.on('error', () => {});
    if (started !== undefined) {
      const code = started.code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') return undefined;
      if (code === 'ABORT_ERR') throw new KernelError(file, 'stopped before it started');
      throw new KernelError(file, `cannot run (${code ?? String(started)})`);
    }
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    return {
      async drain(onChunk) {
        let failure: { error: unknown } | undefined;
        // The collector is made at the first MiB, not before: making it costs 5-8 ms (node:v8,
        // a context), which an output smaller than that (nft's rules, a small table) never repays.
        let sinceCollected = 0;
        child.stdout.on('data', (chunk: Buffer) => {
          if (failure !== undefined) return;
          try {
            onChunk(chunk);
          } catch (error) {
            failure = { error };
            kill();
          }
          sinceCollected += chunk.length;
          if (sinceCollected >= COLLECT_EVERY_BYTES) {
            sinceCollected = 0;
            collector()?.young();
          }
        });
        const end = await closed;
        if (failure !== undefined) throw failure.error;
        return { ...end, stderr };
      },
      kill,
    };
  },

  traceDoor: nodeTraceDoor,

  reclaim() {
    if (process.memoryUsage().arrayBuffers > RECLAIM_ABOVE_BYTES) collector()?.full();
  },
};
