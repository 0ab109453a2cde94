/**
 * The kernel settings that shape one namespace's port space, and the choices made in
 * reading it: plain data shared by the sources that read them and the rooms that judge.
 */

/** `net.ipv4.ip_local_port_range`: two ports, low ≤ high; it governs IPv6 too. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

export interface KernelSettings {
  readonly range: PortRange;
  readonly reserved: readonly PortRange[];
  /** net.ipv4.tcp_tw_reuse: 0 never, 1 always, 2 loopback only. */
  readonly twReuse: number;
  /** net.ipv4.tcp_tw_reuse_delay in ms; absent before kernel 6.14, where it is about 1 s. */
  readonly twReuseDelayMs: number;
  readonly timestamps: number;
  /** What was assumed because a file was absent, for the verbose output. */
  readonly assumptions: readonly string[];
}

/**
 * The sysctls to judge a namespace with: its own, read, or the defaults of a new namespace,
 * assumed where they cannot be read (another namespace, without root: docs/namespaces.md).
 */
export interface Settings {
  readonly kernel: KernelSettings;
  readonly read: boolean;
}

/** Which socket source to read: ss (sock_diag), /proc/net, or the cheaper of the two. */
export type SourceChoice = 'auto' | 'ss' | 'proc';
export const SOURCE_CHOICES: readonly SourceChoice[] = ['auto', 'ss', 'proc'];

/** Which protocols' tables to read. */
export interface TableChoice {
  readonly tcp: boolean;
  readonly udp: boolean;
}
