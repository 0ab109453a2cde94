/**
 * A namespace in words an operator recognises (docs/namespaces.md, "Names"): the pod or
 * container its processes run in, from their cgroup path; else a name under /run/netns;
 * else a process name and pid. Only shapes we recognise are shown, and text that comes
 * from a process (its comm, a netns name) is reduced to a safe alphabet first.
 */
import { KernelError } from '../host/errors';
import type { Host } from '../host/host';
import type { NamespaceRef } from './discover';

/** How many of a namespace's processes are asked for their cgroup before falling back. */
const CGROUP_PROBES = 16;

const UUID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
/**
 * Pods: cgroupfs `/kubepods/burstable/pod<uid>/<container>`, systemd
 * `kubepods-burstable-pod<uid with _>.slice`; a static pod's uid is 32 hex digits.
 */
const POD = new RegExp(`(?:^|-)pod(${UUID}|[0-9a-f]{32})(?:\\.slice)?$`);
/** Container runtimes' scopes (systemd driver) and cgroupfs directories. */
const CONTAINER: readonly (readonly [RegExp, string])[] = [
  [/^docker-([0-9a-f]{64})\.scope$/, 'docker'],
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, 'containerd'],
  [/^nerdctl-([0-9a-f]{64})\.scope$/, 'containerd'],
  [/^crio-([0-9a-f]{64})\.scope$/, 'cri-o'],
  [/^libpod-([0-9a-f]{64})\.scope$/, 'podman'],
];
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** The pod or container a cgroup file (/proc/PID/cgroup, v1 or v2) places a process in, or null. */
export function containerName(cgroup: string): string | null {
  let container: string | null = null;
  for (const line of cgroup.split('\n')) {
    // hierarchy-ID:controllers:path; the path may itself hold colons.
    const path = line.split(':').slice(2).join(':');
    const segments = path.split('/');
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i];
      const pod = POD.exec(segment);
      if (pod) return `pod ${pod[1].replace(/_/g, '-')}`;
      for (const [shape, runtime] of CONTAINER) {
        const m = shape.exec(segment);
        if (m) container ??= `${runtime} ${m[1].slice(0, 12)}`;
      }
      const parent = segments[i - 1];
      if (/^[0-9a-f]{64}$/.test(segment) && (parent === 'docker' || parent === 'lxc')) container ??= `${parent} ${segment.slice(0, 12)}`;
      const lxc = /^lxc\.payload\.(.+)$/.exec(segment) ?? (parent === 'lxc' ? /^(.+)$/.exec(segment) : null);
      if (lxc && PLAIN_NAME.test(lxc[1])) container ??= `lxc ${lxc[1]}`;
      const machine = /^machine-(.+)\.scope$/.exec(segment) ?? /^systemd-nspawn@(.+)\.service$/.exec(segment);
      if (machine && PLAIN_NAME.test(machine[1])) container ??= `machine ${machine[1]}`;
    }
  }
  return container;
}

/** Text a process chose (its comm, a netns file name), made safe to print: never trusted. */
export function safeText(text: string, max: number): string {
  const safe = text.replace(/[^A-Za-z0-9_.:@+\-/]/g, '?');
  return safe.length > max ? `${safe.slice(0, max)}...` : safe;
}

async function readOrNothing(host: Host, path: string): Promise<string | undefined> {
  try {
    return await host.readText(path);
  } catch (err) {
    if (err instanceof KernelError) return undefined;
    throw err;
  }
}

/** The process name (comm) of a pid, safe to print; `?` when it cannot be read. */
export async function commandName(host: Host, pid: number): Promise<string> {
  const comm = await readOrNothing(host, `/proc/${pid}/comm`);
  return comm === undefined ? '?' : safeText(comm.replace(/\n$/, ''), 16);
}

/** The operator-facing name of a namespace (see the file's comment). */
export async function namespaceName(host: Host, ref: NamespaceRef): Promise<string> {
  if (ref.host) return 'host';
  for (const pid of ref.pids.slice(0, CGROUP_PROBES)) {
    const cgroup = await readOrNothing(host, `/proc/${pid}/cgroup`);
    const name = cgroup === undefined ? null : containerName(cgroup);
    if (name !== null) return name;
  }
  if (ref.runNames.length > 0) return `netns ${safeText(ref.runNames[0], 64)}`;
  const pid = ref.pids[0];
  if (pid === undefined) return ref.inode === null ? 'a namespace' : `netns ${ref.inode}`;
  return `${await commandName(host, pid)} (pid ${pid})`;
}
