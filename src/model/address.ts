/**
 * Socket addresses in their usual text form: dotted quad for IPv4, RFC 5952 for IPv6, made
 * from the words both socket sources decode (address-table.ts interns them), so /proc and
 * ss print an address alike. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4,
 * because such a socket competes for the IPv4 tuple (docs/kernel-model.md, Rule 5).
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

const COLON = 58;
const DOT = 46;
const HEX_DIGIT = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_DIGIT[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_DIGIT[65 + i] = HEX_DIGIT[97 + i] = 10 + i;
const groups = new Uint16Array(8);

/** A dotted quad filling buf[start, end) as a 32-bit value, or -1. */
export function dottedQuad(buf: Uint8Array, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  for (let pos = start; octets < 4; octets++) {
    let octet = 0;
    const digits = pos;
    while (pos < end && pos - digits < 3 && buf[pos] >= 48 && buf[pos] <= 57) octet = octet * 10 + buf[pos++] - 48;
    if (pos === digits || octet > 255) return -1;
    value = value * 256 + octet;
    if (octets < 3) {
      if (pos >= end || buf[pos] !== DOT) return -1;
      pos++;
    } else if (pos !== end) {
      return -1;
    }
  }
  return value;
}

/**
 * IPv6 text in any valid spelling (`::` anywhere, upper or lower case, a trailing dotted
 * quad as glibc and musl print `::ffff:a.b.c.d`), read from bytes without making a string:
 * writes its four network-order words into `into`; false when it is not an IPv6 address.
 * For sources that hand us text, such as ss.
 */
export function parseIpv6(buf: Uint8Array, start: number, end: number, into: Int32Array): boolean {
  let count = 0;
  let gap = -1;
  let pos = start;
  if (pos < end && buf[pos] === COLON) {
    if (pos + 1 >= end || buf[pos + 1] !== COLON) return false;
    gap = 0;
    pos += 2;
  }
  while (pos < end) {
    let value = 0;
    const digits = pos;
    while (pos < end && pos - digits < 5 && HEX_DIGIT[buf[pos]] >= 0) value = value * 16 + HEX_DIGIT[buf[pos++]];
    if (pos < end && buf[pos] === DOT) {
      // The last 32 bits as a dotted quad.
      const quad = count <= 6 ? dottedQuad(buf, digits, end) : -1;
      if (quad === -1) return false;
      groups[count++] = quad >>> 16;
      groups[count++] = quad & 0xffff;
      break;
    }
    if (pos === digits || pos - digits > 4 || count === 8) return false;
    groups[count++] = value;
    if (pos === end) break;
    if (buf[pos++] !== COLON || pos === end) return false;
    if (buf[pos] === COLON) {
      if (gap !== -1) return false;
      gap = count;
      pos++;
    }
  }
  if (gap === -1 ? count !== 8 : count > 7) return false;
  if (gap !== -1) {
    // Move the groups after the gap to the end, and zero the gap.
    const zeros = 8 - count;
    for (let i = count - 1; i >= gap; i--) groups[i + zeros] = groups[i];
    groups.fill(0, gap, gap + zeros);
  }
  for (let k = 0; k < 4; k++) into[k] = (groups[2 * k] << 16) | groups[2 * k + 1];
  return true;
}

/** `[::1]:5432` or `10.0.0.5:5432`: an endpoint as operators write it. */
export function endpointText(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
