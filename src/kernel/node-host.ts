import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { KernelError } from './errors';
import type { ChildProcess, Host, OpenFile } from './host';

/** Enough of a child's stderr to say why it failed. */
const STDERR_KEPT = 2048;

/** Node errors → what an operator can act on; a missing file is an answer, not an error. */
function missingOrThrow(path: string, err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  if (code === 'EACCES' || code === 'EPERM') throw new KernelError(path, 'permission denied');
  throw new KernelError(path, `cannot read (${code ?? String(err)})`);
}

export const nodeHost: Host = {
  littleEndian: endianness() === 'LE',

  async readText(path) {
    try {
      return await fs.readFile(path, 'latin1');
    } catch (err) {
      return missingOrThrow(path, err);
    }
  },

  async open(path): Promise<OpenFile | undefined> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, 'r');
    } catch (err) {
      return missingOrThrow(path, err);
    }
    return {
      async read(into, offset, length) {
        try {
          return (await handle.read(into, offset, length, null)).bytesRead;
        } catch (err) {
          throw new KernelError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
        }
      },
      close: () => handle.close(),
    };
  },

  async spawn(file, args, signal): Promise<ChildProcess | undefined> {
    // Loaded only when a program is run: most of the check's start-up is module loading.
    const { spawn } = await import('node:child_process');
    // LC_ALL=C: untranslated output; and no PROC_ROOT or PROC_NET_* that would redirect ss.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { LC_ALL: 'C' }, signal, killSignal: 'SIGKILL' });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('close', (code, sig) => resolve({ code, signal: sig })));
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
    return {
      stdout: child.stdout,
      exit: async () => ({ ...(await exited), stderr }),
      kill: () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
  },
};
