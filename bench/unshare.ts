/** What bench/namespaces.ts and bench/nat.ts share: running themselves in namespaces of their own. */
import { spawnSync } from 'node:child_process';

/**
 * Re-runs `script` (the caller's __filename, with its arguments) as pid 1 of private pid,
 * mount and network namespaces, with BENCH_IN_NAMESPACE=1, and exits with its status.
 * @param refusal printed when not root, e.g. "bench:nat: needs root (...)"
 */
export function enterNamespaces(script: string, refusal: string): never {
  if (process.getuid?.() !== 0) {
    console.error(refusal);
    process.exit(2);
  }
  const r = spawnSync('unshare', ['--net', '--pid', '--mount', '--fork', '--mount-proc', '--kill-child', process.execPath, ...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_IN_NAMESPACE: '1' },
  });
  process.exit(r.status ?? 1);
}
