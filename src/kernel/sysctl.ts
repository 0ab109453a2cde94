import { KernelError } from './errors';

/** `net.ipv4.ip_local_port_range`: two ports, low ≤ high; it governs IPv6 too. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

const UINT = /^\d+$/;

function port(text: string, path: string): number {
  const n = UINT.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new KernelError(path, `"${text}" is not a port number`);
  return n;
}

export function parsePortRange(text: string, path: string): PortRange {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 2 || fields[0] === '') throw new KernelError(path, `expected "LOW HIGH", got "${clip(text)}"`);
  const low = port(fields[0], path);
  const high = port(fields[1], path);
  if (low > high) throw new KernelError(path, `range ${low}-${high} is reversed`);
  return { low, high };
}

/** `ip_local_reserved_ports`: "" or a comma list of ports and `a-b` spans. */
export function parseReservedPorts(text: string, path: string): PortRange[] {
  const body = text.trim();
  if (body === '') return [];
  return body.split(',').map((item) => {
    const dash = item.indexOf('-');
    const span = dash === -1 ? { low: port(item, path), high: port(item, path) } : { low: port(item.slice(0, dash), path), high: port(item.slice(dash + 1), path) };
    if (span.low > span.high) throw new KernelError(path, `span "${item}" is reversed`);
    return span;
  });
}

/** A one-number sysctl such as tcp_tw_reuse, bounded to what the kernel accepts. */
export function parseIntSysctl(text: string, path: string, min: number, max: number): number {
  const body = text.trim();
  const n = UINT.test(body) ? Number(body) : NaN;
  if (!(n >= min && n <= max)) throw new KernelError(path, `expected a number from ${min} to ${max}, got "${clip(text)}"`);
  return n;
}

function clip(text: string): string {
  const oneLine = text.trim().replace(/[^\x20-\x7e]/g, '?');
  return oneLine.length > 40 ? `${oneLine.slice(0, 40)}...` : oneLine;
}
