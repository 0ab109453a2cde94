/**
 * The one gate for every helper program the check runs (ss; nsenter for namespaces): only
 * from a fixed absolute path, never via PATH, and only a file that nobody but root can
 * change. A privileged run (sudo) must not execute what an unprivileged user planted.
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { KernelError } from './errors';

/** Symbolic links followed at most, as the kernel's MAXSYMLINKS. */
const MAX_LINKS = 40;

/** Why nobody but root can change it, or what is wrong with it. */
function rootOnly(stats: Stats): string | null {
  if (stats.uid !== 0) return `owned by uid ${stats.uid}, not root`;
  const writers = [(stats.mode & 0o020) !== 0 ? 'its group' : '', (stats.mode & 0o002) !== 0 ? 'others' : ''].filter(Boolean);
  if (writers.length > 0) return `writable by ${writers.join(' and ')} (mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')})`;
  return null;
}

type Resolved = { readonly real: string } | { readonly missing: true } | { readonly untrusted: string };

/**
 * Resolves `path` one name at a time (Debian's /bin is a link to /usr/bin): every
 * directory looked into, and so every link followed, must be root's alone, and so must
 * the file it ends at, a regular executable file.
 */
function resolve(path: string): Resolved {
  if (!path.startsWith('/')) return { untrusted: 'not an absolute path' };
  let pending = path.split('/').filter((name) => name !== '' && name !== '.');
  let dir = '/';
  const dirWhy = rootOnly(lstatSync(dir));
  if (dirWhy !== null) return { untrusted: `/ is ${dirWhy}` };
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
      continue;
    }
    const next = dir === '/' ? `/${name}` : `${dir}/${name}`;
    let stats: Stats;
    try {
      stats = lstatSync(next);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
      return { untrusted: `cannot inspect ${next} (${code ?? String(err)})` };
    }
    if (stats.isSymbolicLink()) {
      if (++links > MAX_LINKS) return { untrusted: 'too many symbolic links' };
      const target = readlinkSync(next);
      if (target.startsWith('/')) dir = '/';
      pending = [...target.split('/').filter((n) => n !== '' && n !== '.'), ...pending];
      continue;
    }
    const why = rootOnly(stats);
    if (pending.length > 0) {
      if (!stats.isDirectory()) return { missing: true };
      if (why !== null) return { untrusted: `${next} is ${why}` };
    } else {
      if (!stats.isFile()) return { untrusted: `${next} is not a regular file` };
      if (why !== null) return { untrusted: `${next} is ${why}` };
      if ((stats.mode & 0o111) === 0) return { untrusted: `${next} is not executable` };
    }
    dir = next;
  }
  return { real: dir };
}

/**
 * The first of `paths` that exists, resolved to the real file to execute, when it is safe
 * to run. Throws a KernelError naming the path and why it is not, or that none exists.
 */
export function trustedProgram(paths: readonly string[]): string {
  for (const path of paths) {
    const found = resolve(path);
    if ('real' in found) return found.real;
    if ('untrusted' in found) throw new KernelError(path, `not run: ${found.untrusted}`);
  }
  throw new KernelError(paths.length === 1 ? paths[0] : (paths[0]?.split('/').pop() ?? 'program'), paths.length === 1 ? 'not found' : `not found in ${paths.join(', ')}`);
}
