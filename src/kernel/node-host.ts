import { constants, promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { KernelError } from './errors';
import type { Host, OpenFile } from './host';

/** Node errors → what an operator can act on; a missing file is an answer, not an error. */
function missingOrThrow(path: string, err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
  if (code === 'EACCES' || code === 'EPERM') throw new KernelError(path, 'permission denied');
  throw new KernelError(path, `cannot read (${code ?? String(err)})`);
}

/** How long to wait before asking again when a read would block. */
const RETRY_MS = 5;

/**
 * Opens without ever blocking in the kernel: a read that never returns pins a libuv thread,
 * and Node cannot exit while one is pinned, so -t and SIGTERM could not answer. /proc
 * files never block; anything else (a FIFO in a --proc copy) is polled instead.
 */
async function openNonBlocking(path: string): Promise<OpenFile | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return missingOrThrow(path, err);
  }
  return {
    async read(into, offset, length) {
      for (;;) {
        try {
          return (await handle.read(into, offset, length, null)).bytesRead;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EAGAIN') {
            await sleep(RETRY_MS);
            continue;
          }
          throw new KernelError(path, `cannot read (${code ?? String(err)})`);
        }
      }
    },
    close: () => handle.close(),
  };
}

export const nodeHost: Host = {
  littleEndian: endianness() === 'LE',

  async readText(path) {
    const file = await openNonBlocking(path);
    if (file === undefined) return undefined;
    try {
      const chunks: Buffer[] = [];
      for (;;) {
        const chunk = Buffer.alloc(4096);
        const n = await file.read(chunk, 0, chunk.length);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
        if (chunks.length > 256) throw new KernelError(path, 'larger than 1 MiB: not a sysctl');
      }
      return Buffer.concat(chunks).toString('latin1');
    } finally {
      await file.close();
    }
  },

  open: openNonBlocking,
};
