/**
 * Running helper programs through the host's one gate (programs.ts checks the paths;
 * host.spawn runs them without a shell): what every source that runs a program shares.
 */
import { KernelError } from './errors';
import type { ChildProcess, Host } from './host';

/**
 * The program from its fixed paths through the host's one gate for helper programs (root's
 * alone, or not run at all), or why not: a missing or untrusted program is a reason to
 * assume, not a failure of the check.
 */
export function findHelper(host: Host, paths: readonly string[]): { path: string } | { why: string } {
  if (host.findProgram === undefined || host.spawn === undefined) return { why: 'this host cannot run programs' };
  try {
    return { path: host.findProgram(paths) };
  } catch (err) {
    if (err instanceof KernelError) return { why: err.message };
    throw err;
  }
}

/** A program's whole (small) stdout, at most `limit` bytes, or a KernelError naming it. */
export async function programOutput(child: ChildProcess, what: string, limit = 65536): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let end;
  try {
    end = await child.drain((chunk) => {
      size += chunk.length;
      if (size > limit) throw new KernelError(what, `more than ${limit} bytes of output`);
      chunks.push(chunk);
    });
  } finally {
    child.kill();
  }
  if (end.code !== 0) throw new KernelError(what, end.code === null ? `killed by ${end.signal}` : `exit status ${end.code}`);
  return Buffer.concat(chunks).toString('latin1');
}
