/**
 * The only door to the host. Everything behind it is pure and takes plain data, so tests
 * hand the check a fixture tree (--proc) or a fake host instead of a live kernel.
 */
import type { TraceDoor } from './tracefs';

export interface OpenFile {
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

/** How a program ended: its exit code (null when a signal ended it) and its stderr's start. */
export interface ProgramEnd {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderr: string;
}

/** A program started without a shell, its stdout streamed as it comes. */
export interface ChildProcess {
  /**
   * Hands stdout to onChunk chunk by chunk as it arrives (a plain call, no promise per
   * chunk: this is the hot path), and resolves once stdout is drained and the program has
   * ended. When onChunk throws, the program is killed and the promise rejects with that.
   */
  drain(onChunk: (chunk: Uint8Array) => void): Promise<ProgramEnd>;
  /** Kills it if it still runs; a no-op once it has exited. */
  kill(): void;
}

export interface Host {
  /** A small file as text; undefined when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** A file to stream; undefined when it does not exist. */
  open(path: string): Promise<OpenFile | undefined>;
  readonly littleEndian: boolean;
  /**
   * Why this process has more privileges than whoever started it (sudo, a set-user-ID
   * bit), or null. Such a run reads only the live kernel: no --proc copy.
   */
  readonly elevated: string | null;
  /**
   * The program to run from a fixed list of absolute paths: the first that exists, if
   * nobody but root can change it (programs.ts); else a KernelError naming it.
   */
  findProgram?(paths: readonly string[]): string;
  /**
   * Runs a program that findProgram gave (argv, no shell, no stdin); undefined when it has
   * vanished since. Aborting `signal` kills it. Optional: a host without it cannot run ss.
   */
  spawn?(file: string, args: readonly string[], signal: AbortSignal): Promise<ChildProcess | undefined>;
  /**
   * What --namespaces and the owner lookup need (optional: a host without them cannot
   * walk /proc). Each answers undefined for a path that does not exist, and throws a
   * KernelError when it may not be read (another user's process, say).
   */
  listDir?(path: string): Promise<string[] | undefined>;
  readLink?(path: string): Promise<string | undefined>;
  /** stat() following links: the inode (a namespace's identity) and the owner. */
  stat?(path: string): Promise<{ readonly inode: number; readonly uid: number } | undefined>;
  /** Every link in a directory, read in one go (a process's fd/): name → target. */
  readLinks?(dir: string): Promise<{ readonly names: string[]; readonly targets: string[] } | undefined>;
  /** The effective user id: 0 may enter other namespaces and see every process. */
  readonly euid?: number;
  /**
   * Frees the memory of finished work, once enough of it has piled up (--namespaces calls
   * it after each namespace). Optional: without it, memory is freed when the runtime sees fit.
   */
  reclaim?(): void;
  /**
   * The check's own tracefs instance and what reaching it needs (--failures): the one
   * place the check may write. Optional: a host without it counts no failed connect()s.
   */
  traceDoor?(): TraceDoor;
}
