/**
 * Entering another network namespace. Its socket tables are open to anyone through
 * /proc/PID/net; its sysctls are not: /proc/sys answers for the reader's own namespace,
 * so they are read by a program run inside it (util-linux nsenter, which needs root for
 * setns). Without root, the kernel defaults of a new namespace are assumed, and said.
 */
import { KernelError } from '../host/errors';
import type { Host, OpenFile } from '../host/host';

/** Fixed paths, never PATH: where distributions install util-linux nsenter. */
export const NSENTER_PATHS: readonly string[] = ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter'];

/**
 * The same host, but every program it runs runs inside the namespace at `door`, through
 * nsenter (found by findHelper). The program itself was found by the caller through the
 * same gate (the ss source does), so nsenter only ever runs a trusted path.
 */
export function entering(host: Host, nsenter: string, door: string): Host {
  const spawn = host.spawn;
  if (spawn === undefined) return host;
  return {
    ...host,
    spawn: (file, args, signal) => spawn.call(host, nsenter, [`--net=${door}`, '--', file, ...args], signal),
  };
}

/** The same host, but a file read stops with an error once `signal` is aborted. */
export function stoppable(host: Host, signal: AbortSignal): Host {
  return {
    ...host,
    async open(path) {
      const file = await host.open(path);
      if (file === undefined) return undefined;
      const stopping: OpenFile = {
        read(into, offset, length) {
          if (signal.aborted) throw new KernelError(path, 'stopped');
          return file.read(into, offset, length);
        },
        close: () => file.close(),
      };
      return stopping;
    },
  };
}
