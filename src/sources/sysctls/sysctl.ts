import { KernelError } from '../../host/errors';
import type { PortRange } from '../../model/settings';

const UINT = /^\d+$/;

/** Messages name what was wrong and show only an excerpt of the text (errors.ts). */
function port(text: string, path: string, what: string): number {
  const n = UINT.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new KernelError(path, `${what} is not a port number from 1 to 65535`, text);
  return n;
}

export function parsePortRange(text: string, path: string): PortRange {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 2 || fields[0] === '') throw new KernelError(path, 'expected two port numbers, "LOW HIGH"', text);
  const low = port(fields[0], path, 'LOW');
  const high = port(fields[1], path, 'HIGH');
  if (low > high) throw new KernelError(path, `range ${low}-${high} is reversed`);
  return { low, high };
}

/** `ip_local_reserved_ports`: "" or a comma list of ports and `a-b` spans. */
export function parseReservedPorts(text: string, path: string): PortRange[] {
  const body = text.trim();
  if (body === '') return [];
  return body.split(',').map((item, i) => {
    const what = `item ${i + 1}`;
    const dash = item.indexOf('-');
    const span = dash === -1 ? { low: port(item, path, what), high: port(item, path, what) } : { low: port(item.slice(0, dash), path, what), high: port(item.slice(dash + 1), path, what) };
    if (span.low > span.high) throw new KernelError(path, `${what}: span ${span.low}-${span.high} is reversed`);
    return span;
  });
}

/** A one-number sysctl such as tcp_tw_reuse, bounded to what the kernel accepts. */
export function parseIntSysctl(text: string, path: string, min: number, max: number): number {
  const body = text.trim();
  const n = UINT.test(body) ? Number(body) : NaN;
  if (!(n >= min && n <= max)) throw new KernelError(path, `expected a number from ${min} to ${max}`, text);
  return n;
}
