/**
 * Source NAT rules as the ruleset states them, reduced to what sizes a NAT pool: the
 * family and protocol they apply to, the address they translate to, and the port range
 * (`--to-ports A-B`, nft `masquerade to :A-B`, `snat to ADDR:A-B`). Which packets a rule
 * matches (interfaces, subnets) is not modelled: a pool takes the range of the rules that
 * can have made it (nat/nat-pool.ts chooses).
 *
 * Two texts: nft's JSON (`nft -j list ruleset`: native nft rules) and iptables-save's
 * (`iptables-legacy-save -t nat`, and `iptables-nft-save -t nat` for the rules iptables-nft
 * put into nft, which nft's JSON shows only as an opaque `xt` target without its range).
 */
import type { PortRange } from '../../model/settings';

export interface NatRule {
  /** The address family it translates (iptables 4, ip6tables 6, nft inet: either, null). */
  readonly family: 4 | 6 | null;
  /** null: every protocol. */
  readonly protocol: 'tcp' | 'udp' | null;
  /** The one address it translates to (SNAT); null for MASQUERADE or an address range. */
  readonly address: string | null;
  /** null: no ports given, the kernel keeps to the original port's class. */
  readonly range: PortRange | null;
}

export interface NftRules {
  readonly rules: NatRule[];
  /** Rules with an iptables target inside (iptables-nft): read iptables-nft-save for them. */
  readonly xtTargets: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** nft's `port`: a number or {range: [low, high]}; null when absent. */
function nftPorts(port: Json | undefined): PortRange | null {
  if (typeof port === 'number') return { low: port, high: port };
  if (isObject(port) && Array.isArray(port.range) && typeof port.range[0] === 'number' && typeof port.range[1] === 'number') return { low: port.range[0], high: port.range[1] };
  return null;
}

/** The layer 4 protocol a rule's matches pin: `meta l4proto tcp`, `tcp dport 5432`... */
function nftProtocol(expr: Json[]): 'tcp' | 'udp' | null {
  for (const item of expr) {
    if (!isObject(item) || !isObject(item.match)) continue;
    const { left, right, op } = item.match;
    if (op !== '==' && op !== 'in' && op !== undefined) continue;
    if (isObject(left) && isObject(left.meta) && left.meta.key === 'l4proto' && (right === 'tcp' || right === 'udp')) return right;
    if (isObject(left) && isObject(left.payload) && (left.payload.protocol === 'tcp' || left.payload.protocol === 'udp')) return left.payload.protocol;
  }
  return null;
}

const NFT_FAMILY: Record<string, 4 | 6 | null> = { ip: 4, ip6: 6, inet: null };

/**
 * `nft -j list ruleset`: every `masquerade` and `snat` statement, with the family of its
 * table (an inet table's snat names its own) and the protocol its rule matches.
 */
export function parseNftRuleset(text: string): NftRules {
  const doc = JSON.parse(text) as Json;
  if (!isObject(doc) || !Array.isArray(doc.nftables)) throw new Error('not nft JSON: no "nftables" array');
  const rules: NatRule[] = [];
  let xtTargets = false;
  for (const item of doc.nftables) {
    if (!isObject(item) || !isObject(item.rule) || !Array.isArray(item.rule.expr)) continue;
    const { family, expr } = item.rule;
    if (typeof family !== 'string' || !(family in NFT_FAMILY)) continue;
    const protocol = nftProtocol(expr);
    for (const statement of expr) {
      if (!isObject(statement)) continue;
      if ('xt' in statement) xtTargets = true;
      if ('masquerade' in statement) {
        const m = statement.masquerade;
        rules.push({ family: NFT_FAMILY[family], protocol, address: null, range: isObject(m) ? nftPorts(m.port) : null });
      } else if (isObject(statement.snat)) {
        const s = statement.snat;
        const own = typeof s.family === 'string' && s.family in NFT_FAMILY ? NFT_FAMILY[s.family] : NFT_FAMILY[family];
        rules.push({ family: own, protocol, address: typeof s.addr === 'string' ? s.addr : null, range: nftPorts(s.port) });
      }
    }
  }
  return { rules, xtTargets };
}

/** `A` or `A-B` as a range of ports; null when it is not one. */
function portSpan(text: string): PortRange | null {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (m === null) return null;
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  return low >= 1 && high <= 65535 && low <= high ? { low, high } : null;
}

/**
 * iptables-save's text of one family's nat table: each `-j MASQUERADE [--to-ports A[-B]]`
 * and `-j SNAT --to-source ADDR[-ADDR][:A[-B]]`, with its `-p` protocol.
 */
export function parseIptablesSave(text: string, family: 4 | 6): NatRule[] {
  const rules: NatRule[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    const words = line.trim().split(/\s+/);
    const target = words[words.indexOf('-j') + 1];
    if (target !== 'MASQUERADE' && target !== 'SNAT') continue;
    const value = (option: string): string | undefined => {
      const at = words.indexOf(option);
      return at === -1 ? undefined : words[at + 1];
    };
    const p = value('-p');
    // `! -p tcp` excludes a protocol: it pins none.
    const negated = words[words.indexOf('-p') - 1] === '!';
    const protocol = !negated && (p === 'tcp' || p === 'udp') ? p : null;
    if (target === 'MASQUERADE') {
      const ports = value('--to-ports');
      rules.push({ family, protocol, address: null, range: ports === undefined ? null : portSpan(ports) });
      continue;
    }
    const to = value('--to-source') ?? '';
    // IPv6 is bracketed when ports follow: [fd00::1]:1000-2000.
    const m = family === 6 ? /^\[?([^\]]+?)\]?(?::(\d[\d-]*))?$/.exec(to.startsWith('[') ? to : `[${to}]`) : /^([^:]+)(?::(\d[\d-]*))?$/.exec(to);
    const addresses = m?.[1] ?? '';
    rules.push({ family, protocol, address: addresses === '' || addresses.includes('-') ? null : addresses, range: m?.[2] === undefined ? null : portSpan(m[2]) });
  }
  return rules;
}
