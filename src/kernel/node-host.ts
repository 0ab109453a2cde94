import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { KernelError } from './errors';
import type { Host, OpenFile } from './host';

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
};
