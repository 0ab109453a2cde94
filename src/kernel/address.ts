/**
 * Socket addresses in their usual text form: dotted quad for IPv4, RFC 5952 for IPv6.
 * That text is also the grouping key, so both socket sources (/proc and ss) must produce
 * exactly this form. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4, because such
 * a socket competes for the IPv4 tuple (docs/kernel-model.md, Rule 5).
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

/**
 * IPv6 text in any valid spelling (`::` anywhere, upper or lower case, a trailing dotted
 * quad as glibc and musl print `::ffff:a.b.c.d`) → the canonical form above; undefined
 * when it is not an IPv6 address. For sources that hand us text, such as ss.
 */
export function ipv6TextCanonical(text: string): { family: Family; text: string } | undefined {
  const groups: number[] = [];
  let gap = -1;
  const parts = text.split(':');
  let i = 0;
  // A leading or trailing `::` splits into two empty parts; one in the middle into one.
  if (parts[0] === '') {
    if (parts[1] !== '') return undefined;
    i = 1;
  }
  let last = parts.length - 1;
  if (parts[last] === '' && last > 0) {
    if (parts[last - 1] !== '') return undefined;
    last--;
  }
  for (; i <= last; i++) {
    const part = parts[i];
    if (part === '') {
      if (gap !== -1) return undefined;
      gap = groups.length;
    } else if (i === last && part.includes('.')) {
      const quad = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(part);
      if (!quad || quad.slice(1).some((octet) => Number(octet) > 255)) return undefined;
      groups.push(Number(quad[1]) * 256 + Number(quad[2]), Number(quad[3]) * 256 + Number(quad[4]));
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      groups.push(parseInt(part, 16));
    }
  }
  if (gap === -1 ? groups.length !== 8 : groups.length > 7) return undefined;
  if (gap !== -1) groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0));
  const word = (k: number) => ((groups[2 * k] << 16) | groups[2 * k + 1]) >>> 0;
  return ipv6WordsText(word(0), word(1), word(2), word(3));
}

/** tcp_tw_reuse = 2 reuses TIME_WAIT only when either end is loopback (docs/kernel-model.md, Rule 6). */
export function isLoopback(text: string): boolean {
  return text.startsWith('127.') || text === '::1';
}

/** `[::1]:5432` or `10.0.0.5:5432`: an endpoint as operators write it. */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
