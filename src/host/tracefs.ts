/**
 * The one place the check writes anything: its own tracefs instance (--failures, #27).
 * Every path this door reaches is inside `<tracefs>/instances/<name>`, named by the caller
 * with a plain relative name it checks, so no other file of tracefs (or of the host) can be
 * written through it. It never mounts tracefs: where tracefs is not mounted, the caller
 * says so (docs/kernel-model.md, "Failed connect()s").
 */
import { closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The instance's trace_pipe, opened by this process; reads consume what they return. */
export interface TracePipe {
  /** Everything the ring buffer holds now, consumed: read until the kernel would block. */
  drain(): string;
  /**
   * Whether the kernel refuses another reader while this one is open (Linux 6.6 made
   * trace_pipe exclusive: a second open fails with EBUSY). On older kernels two readers
   * split the events between them.
   */
  keepsOthersOut(): boolean;
  close(): void;
}

export interface TraceInstance {
  /** Its directory, for messages. */
  readonly path: string;
  exists(): boolean;
  /** mkdir: true when made now, false when it was there already. */
  create(): boolean;
  /** rmdir: true when it was there. The kernel refuses (EBUSY) while a reader holds it. */
  remove(): boolean;
  /** A control file's text (`filter`, `per_cpu/cpu0/stats`); undefined when absent. */
  read(file: string): string | undefined;
  /** Writes a control file as `echo text >` does, but never creating nor truncating it. */
  write(file: string, text: string): void;
  /** The entries of a directory inside it (`per_cpu`). */
  list(dir: string): string[];
  /** Its trace_pipe for this process alone, or 'busy' while another reader has it. */
  openPipe(): TracePipe | 'busy';
}

/** A name inside the instance: words and slashes only, so never `..` nor an absolute path. */
const INSIDE = /^[a-z0-9_]+(?:\/[a-z0-9_]+)*$/;

/** Enough for any read of trace_pipe: the kernel hands out at most a page of text per read. */
const READ_BYTES = 64 * 1024;

function inside(dir: string, file: string): string {
  if (!INSIDE.test(file)) throw new Error(`not a file of the trace instance: ${file}`);
  return `${dir}/${file}`;
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** What `act` returns, or `otherwise` when it fails with the error `expected`. */
function unless<T, U>(expected: string, otherwise: U, act: () => T): T | U {
  try {
    return act();
  } catch (err) {
    if (code(err) === expected) return otherwise;
    throw err;
  }
}

function openPipe(path: string): TracePipe | 'busy' {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK;
  const fd = unless('EBUSY', 'busy' as const, () => openSync(path, flags));
  if (fd === 'busy') return 'busy';
  return {
    drain() {
      const buf = Buffer.alloc(READ_BYTES);
      let text = '';
      for (;;) {
        // EAGAIN: the kernel would block, so the buffer is empty, as at end of file.
        const n = unless('EAGAIN', 0, () => readSync(fd, buf, 0, buf.length, null));
        if (n === 0) return text;
        text += buf.toString('latin1', 0, n);
      }
    },
    keepsOthersOut: () =>
      unless('EBUSY', true, () => {
        closeSync(openSync(path, flags));
        return false;
      }),
    close: () => closeSync(fd),
  };
}

/**
 * The instance `name` of the tracefs mounted at `mountPoint` (the caller finds the mount
 * point in /proc/self/mounts). Errors come back as Node's (code EACCES, EBUSY...).
 */
function traceInstance(mountPoint: string, name: string): TraceInstance {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`not a trace instance name: ${name}`);
  const dir = `${mountPoint}/instances/${name}`;
  return {
    path: dir,
    exists: () =>
      unless('ENOENT', false, () => {
        readdirSync(dir);
        return true;
      }),
    create: () =>
      unless('EEXIST', false, () => {
        mkdirSync(dir);
        return true;
      }),
    remove: () =>
      unless('ENOENT', false, () => {
        rmdirSync(dir);
        return true;
      }),
    read: (file) => unless('ENOENT', undefined, () => readFileSync(inside(dir, file), 'latin1')),
    write(file, text) {
      // O_TRUNC would clear the buffer when written to `trace`; O_CREAT is never needed.
      const fd = openSync(inside(dir, file), constants.O_WRONLY);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
    },
    list(sub) {
      return readdirSync(inside(dir, sub));
    },
    openPipe: () => openPipe(`${dir}/trace_pipe`),
  };
}

/** What the trace source needs of the host. */
export interface TraceDoor {
  /** /proc/self/mounts, or undefined when it cannot be read. */
  readonly mounts: string | undefined;
  /** The effective user id; tracefs is root's. */
  readonly euid: number | undefined;
  instance(mountPoint: string, name: string): TraceInstance;
  now(): Date;
  wait(ms: number): Promise<void>;
}

export function nodeTraceDoor(): TraceDoor {
  let mounts: string | undefined;
  try {
    mounts = readFileSync('/proc/self/mounts', 'latin1');
  } catch {
    mounts = undefined;
  }
  return { mounts, euid: process.geteuid?.(), instance: traceInstance, now: () => new Date(), wait: async (ms) => void (await sleep(ms)) };
}
