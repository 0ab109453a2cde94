/**
 * Socket addresses in their usual text form: dotted quad for IPv4, RFC 5952 for IPv6.
 * That text is also the grouping key, so both socket sources (/proc and ss) must produce
 * exactly this form. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4, because such
 * a socket competes for the IPv4 tuple (KERNEL.md, "Words").
 */
export type Family = 4 | 6;

export function ipv4Text(networkOrder: number): string {
  return `${networkOrder >>> 24}.${(networkOrder >>> 16) & 255}.${(networkOrder >>> 8) & 255}.${networkOrder & 255}`;
}

/** Eight 16-bit groups → RFC 5952 text: lower case, longest run (≥ 2) of zero groups as `::`. */
export function ipv6Text(groups: ArrayLike<number>): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => groups[from + k].toString(16));
  if (bestStart === -1) return hex(0, 8).join(':');
  return `${hex(0, bestStart).join(':')}::${hex(bestStart + bestLength, 8).join(':')}`;
}

/**
 * An IPv6 address given as four network-order 32-bit words, as text; IPv4-mapped
 * addresses come back as IPv4 with family 4.
 */
export function ipv6WordsText(w0: number, w1: number, w2: number, w3: number): { family: Family; text: string } {
  if (w0 === 0 && w1 === 0 && w2 === 0x0000ffff) return { family: 4, text: ipv4Text(w3) };
  const groups = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  return { family: 6, text: ipv6Text(groups) };
}

/** tcp_tw_reuse = 2 reuses TIME_WAIT only when either end is loopback (KERNEL.md, TIME_WAIT 3). */
export function isLoopback(text: string): boolean {
  return text.startsWith('127.') || text === '::1';
}

/** `[::1]:5432` or `10.0.0.5:5432`: an endpoint as operators write it. */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
