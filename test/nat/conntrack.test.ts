/**
 * The conntrack parsers and NAT pools on real captured lines (test/fixtures/conntrack,
 * README.md there says how they were made).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AddressTable } from '../../src/model/address-table';
import { KernelError } from '../../src/host/errors';
import type { ChildProcess, Host } from '../../src/host/host';
import { LineCarry } from '../../src/host/lines';
import { candidateRanges, NatPoolBuilder, type NatPool, type RangeEvidence } from '../../src/nat/nat-pool';
import type { NatRule } from '../../src/sources/ruleset/rules';
import { ConntrackParser, type ConntrackSink } from '../../src/sources/conntrack/entries';
import { conntrackArguments, DEFAULT_HOLD_TIMES, parseConntrackStats, readConntrack } from '../../src/sources/conntrack/read';
import { FIXTURES } from '../helpers';

const DIR = join(FIXTURES, 'conntrack');
const fixture = (name: string) => readFileSync(join(DIR, name));

/** The router's rules when the fixture was captured (iptables-nft). */
const RULES: NatRule[] = [
  { family: 4, protocol: 'tcp', address: null, range: { low: 40000, high: 40099 } },
  { family: 4, protocol: 'udp', address: null, range: null },
];

function pools(text: Uint8Array, evidence: RangeEvidence, chunk = 4096): NatPool[] {
  const builder = new NatPoolBuilder(new AddressTable(), candidateRanges(evidence));
  const carry = new LineCarry(new ConntrackParser(builder, 'fixture'), 'fixture', 1024);
  for (let at = 0; at < text.length; at += chunk) carry.push(text.subarray(at, at + chunk));
  carry.finish();
  return builder.finish(evidence, DEFAULT_HOLD_TIMES).pools().sort((a, b) => `${a.protocol}${a.natAddress}${a.remote}${a.remotePort}`.localeCompare(`${b.protocol}${b.natAddress}${b.remote}${b.remotePort}`));
}

interface Entry {
  protocol: number;
  zone: number;
  translated: boolean;
  replySource: string;
  replySourcePort: number;
  replyDestination: string;
  replyDestinationPort: number;
  state: number;
  timeoutSeconds: number;
}

function entries(text: string): Entry[] {
  const addresses = new AddressTable();
  const seen: Entry[] = [];
  const sink: ConntrackSink = {
    addresses,
    entry(protocol, zone, translated, replySource, replySourcePort, replyDestination, replyDestinationPort, state, timeoutSeconds) {
      seen.push({ protocol, zone, translated, replySource: addresses.text(replySource), replySourcePort, replyDestination: addresses.text(replyDestination), replyDestinationPort, state, timeoutSeconds });
    },
  };
  const carry = new LineCarry(new ConntrackParser(sink, 'test'), 'test');
  carry.push(Buffer.from(text));
  carry.finish();
  return seen;
}

describe('conntrack entries', () => {
  it('reads both directions of a /proc line, and skips what holds no port', () => {
    const lines = [
      'ipv4     2 tcp      6 119 TIME_WAIT src=10.3.0.2 dst=10.2.0.3 sport=42040 dport=6000 src=10.2.0.3 dst=10.2.0.1 sport=6000 dport=40011 [ASSURED] mark=0 zone=0 use=2',
      'ipv4     2 icmp     1 27 src=10.1.0.2 dst=10.2.0.2 type=8 code=0 id=25839 [UNREPLIED] src=10.2.0.2 dst=10.1.0.2 type=0 code=0 id=25839 mark=0 zone=0 use=2',
      'ipv4     2 udp      17 28 src=10.1.0.2 dst=10.2.0.2 sport=54231 dport=53 [UNREPLIED] src=10.2.0.2 dst=10.2.0.1 sport=53 dport=54231 mark=0 zone=0 use=2',
      'ipv6     10 tcp      6 2999 TIME_WAIT src=fd00:0002:0000:0000:0000:0000:0000:0001 dst=fd00:0002:0000:0000:0000:0000:0000:0002 sport=41000 dport=443 [UNREPLIED] src=fd00:0002:0000:0000:0000:0000:0000:0002 dst=fd00:0002:0000:0000:0000:0000:0000:0001 sport=443 dport=41000 [ASSURED] mark=0 zone=7 use=2',
      // conntrack -L without -o extended: no layer 3 prefix, no zone= for zone 0.
      'tcp      6 9 CLOSE src=10.3.0.2 dst=10.2.0.3 sport=42076 dport=6000 src=10.2.0.3 dst=10.2.0.1 sport=6000 dport=40068 [ASSURED] mark=0 use=1',
    ];
    assert.deepEqual(entries(lines.join('\n')), [
      { protocol: 6, zone: 0, translated: true, replySource: '10.2.0.3', replySourcePort: 6000, replyDestination: '10.2.0.1', replyDestinationPort: 40011, state: 7, timeoutSeconds: 119 },
      { protocol: 17, zone: 0, translated: true, replySource: '10.2.0.2', replySourcePort: 53, replyDestination: '10.2.0.1', replyDestinationPort: 54231, state: 0, timeoutSeconds: 28 },
      { protocol: 6, zone: 7, translated: false, replySource: 'fd00:2::2', replySourcePort: 443, replyDestination: 'fd00:2::1', replyDestinationPort: 41000, state: 7, timeoutSeconds: 2999 },
      { protocol: 6, zone: 0, translated: true, replySource: '10.2.0.3', replySourcePort: 6000, replyDestination: '10.2.0.1', replyDestinationPort: 40068, state: 8, timeoutSeconds: 9 },
    ]);
  });

  it('takes the reply zone when zones are set per direction', () => {
    const [e] = entries('ipv4 2 udp 17 20 src=10.1.0.2 dst=10.2.0.2 sport=5000 dport=53 zone-orig=3 src=10.2.0.2 dst=10.2.0.1 sport=53 dport=5000 zone-reply=4 mark=0 use=1\n');
    assert.equal(e.zone, 4);
  });

  it('names the source and line of what it cannot read', () => {
    assert.throws(() => entries('ipv4 2 tcp 6 10 ESTABLISHED src=10.1.0.2 dst=10.2.0.2 sport=1 dport=2\n'), (err: Error) => err instanceof KernelError && /test: line 1: not two tuples/.test(err.message));
    assert.throws(() => entries('ipv4 2 icmp 1 29 src=10.1.0.2 dst=10.2.0.2 type=8 code=0 id=1 src=10.2.0.2 dst=10.1.0.2 type=0 code=0 id=1\nipv4 2 tcp 6 10 SOMETHING src=1.2.3.4\n'), /line 2: unknown TCP state/);
    assert.throws(() => entries('ipv4 2 tcp 6 10 ESTABLISHED src=10.1.0.300 dst=1.1.1.1 sport=1 dport=2 src=1.1.1.1 dst=1.1.1.1 sport=1 dport=2\n'), /src is not an address/);
    assert.throws(() => entries('ipv4 2 tcp 6 10 ESTABLISHED src=1.1.1.1 dst=1.1.1.1 sport=1 dport=2 src=1.1.1.1 dst=1.1.1.1 sport=1 dport=65536\n'), /dport is not a port/);
  });
});

describe('NAT pools from a captured router', () => {
  const evidence: RangeEvidence = { option: null, rules: RULES };
  const proc = pools(fixture('router.nf_conntrack'), evidence);

  it('has one pool per translated reply tuple, sized by its rule', () => {
    const brief = proc.map((p) => [p.protocol, p.natAddress, p.remote, p.remotePort, p.used, p.capacity, p.remaining, p.rangeFrom, p.timeWait, p.close]);
    assert.deepEqual(brief, [
      ['tcp', '10.2.0.1', '10.2.0.2', 5432, 100, 100, 0, 'ruleset', 0, 0],
      ['tcp', '10.2.0.1', '10.2.0.3', 6000, 4, 100, 96, 'ruleset', 3, 1],
      // No ip6tables rule: the kernel's default class, assumed.
      ['tcp', 'fd00:2::1', 'fd00:2::2', 443, 1, 64512, 64511, 'assumed', 0, 0],
      // A rule without --to-ports: the default class of the original port, read.
      ['udp', '10.2.0.1', '10.2.0.2', 53, 1, 64512, 64511, 'ruleset', 0, 0],
    ]);
    // 20 of the 100 are the router's own connections (masqueraded onto new ports, address kept).
    assert.equal(proc[0].translated, 80);
  });

  it('gives churn from the closing entries and their hold times', () => {
    const churn = proc[1].churn!;
    assert.equal(churn.closesPerSecond, 3 / 120 + 1 / 10);
    assert.equal(churn.headroomFactor, 100 / 4);
    assert.equal(churn.ceilingPerSecond, 100 / 120);
    assert.equal(proc[3].churn, null);
  });

  it('reads the same pools from conntrack -L as from /proc', () => {
    assert.deepEqual(pools(fixture('router.conntrack-L'), evidence, 777), proc);
  });

  it('takes --nat-range over the rules, and assumes the default class without either', () => {
    const option = pools(fixture('router.nf_conntrack'), { option: { low: 40000, high: 40199 }, rules: RULES });
    assert.deepEqual(option.map((p) => [p.remotePort, p.capacity, p.used, p.rangeFrom]), [
      [5432, 200, 100, 'option'],
      [6000, 200, 4, 'option'],
      [443, 200, 0, 'option'],
      [53, 200, 0, 'option'],
    ]);
    const none = pools(fixture('router.nf_conntrack'), { option: null, rules: null });
    assert.deepEqual(none.map((p) => [p.remotePort, p.capacity, p.used, p.rangeFrom]), [
      [5432, 64512, 100, 'assumed'],
      [6000, 64512, 4, 'assumed'],
      [443, 64512, 1, 'assumed'],
      [53, 64512, 1, 'assumed'],
    ]);
  });
});

describe('the default class of a pool without a port range', () => {
  // Kept original ports (nf_nat_l4proto_unique_tuple): 1-511, 600-1023, 1024-65535.
  const line = (sport: number, natPort: number, remote: string) =>
    `ipv4     2 udp      17 28 src=10.1.0.2 dst=${remote} sport=${sport} dport=53 src=${remote} dst=10.2.0.1 sport=53 dport=${natPort} mark=0 zone=0 use=2\n`;
  it('is the class most of its entries are in, read from a portless rule or assumed', () => {
    const text = Buffer.from(line(700, 700, '10.2.0.7') + line(701, 701, '10.2.0.7') + line(100, 100, '10.2.0.8') + line(40000, 40000, '10.2.0.9'));
    const rules: NatRule[] = [{ family: 4, protocol: null, address: null, range: null }];
    assert.deepEqual(pools(text, { option: null, rules }).map((p) => [p.remote, p.range.low, p.range.high, p.capacity, p.used, p.rangeFrom]), [
      ['10.2.0.7', 600, 1023, 424, 2, 'ruleset'],
      ['10.2.0.8', 1, 511, 511, 1, 'ruleset'],
      ['10.2.0.9', 1024, 65535, 64512, 1, 'ruleset'],
    ]);
    assert.deepEqual(pools(text, { option: null, rules: [] }).map((p) => p.rangeFrom), ['assumed', 'assumed', 'assumed']);
  });

  it('an SNAT rule applies to its own address only, and a rule of the other family to none', () => {
    const text = Buffer.from(line(40000, 41000, '10.2.0.7'));
    const other: NatRule[] = [
      { family: 4, protocol: null, address: '10.9.9.9', range: { low: 41000, high: 41009 } },
      { family: 6, protocol: null, address: null, range: { low: 41000, high: 41019 } },
    ];
    assert.deepEqual(pools(text, { option: null, rules: other }).map((p) => [p.capacity, p.rangeFrom]), [[64512, 'assumed']]);
    const own: NatRule[] = [{ family: 4, protocol: 'udp', address: '10.2.0.1', range: { low: 41000, high: 41009 } }];
    assert.deepEqual(pools(text, { option: null, rules: own }).map((p) => [p.capacity, p.used, p.rangeFrom]), [[10, 1, 'ruleset']]);
  });
});

describe('conntrack statistics', () => {
  it("sums insert_failed and drop over the CPUs, entries its namespace's count on every row (hex columns found by name)", () => {
    assert.deepEqual(parseConntrackStats(fixture('router.stat').toString(), 'stat'), { entries: 0x6c, insertFailed: 0x2 + 0xe, drop: 0x2 + 0xe });
  });

  it('refuses a file without the columns or with junk', () => {
    assert.throws(() => parseConntrackStats('entries found\n00000001 00000002\n', 'f'), /f: no insert_failed column/);
    assert.throws(() => parseConntrackStats('insert_failed drop\n1 1\n', 'f'), /f: no entries column/);
    assert.throws(() => parseConntrackStats('entries insert_failed drop\n1 zz 1\n', 'f'), /not hexadecimal/);
  });
});

describe('readConntrack', () => {
  const text = fixture('router.conntrack-L').toString();
  const v4 = text.split('\n').filter((l) => l.startsWith('ipv4')).join('\n') + '\n';
  const v6 = text.split('\n').filter((l) => l.startsWith('ipv6')).join('\n') + '\n';

  function fakeHost(files: Record<string, Uint8Array>, code = 0): Host & { ran: string[][] } {
    const ran: string[][] = [];
    return {
      littleEndian: true,
      elevated: null,
      ran,
      async readText() {
        return undefined;
      },
      async open(path) {
        const data = files[path];
        if (data === undefined) return undefined;
        let at = 0;
        return {
          async read(into, offset, length) {
            const n = Math.min(length, data.length - at, 500);
            into.set(data.subarray(at, at + n), offset);
            at += n;
            return n;
          },
          async close() {},
        };
      },
      findProgram: (paths) => paths[0],
      async spawn(file, args): Promise<ChildProcess> {
        ran.push([file, ...args]);
        const out = Buffer.from(args.includes('ipv6') ? v6 : v4);
        return {
          async drain(onChunk) {
            for (let at = 0; at < out.length; at += 300) onChunk(out.subarray(at, at + 300));
            return { code, signal: null, stderr: code === 0 ? '' : 'conntrack v1.4.7 (conntrack-tools): Operation not permitted\n' };
          },
          kill() {},
        };
      },
    };
  }

  const count = async (host: Host, choice: 'auto' | 'proc' | 'conntrack') => {
    const builder = new NatPoolBuilder(new AddressTable(), candidateRanges({ option: null, rules: RULES }));
    const read = await readConntrack({ host, procRoot: '/proc/42', onStage: () => {}, signal: new AbortController().signal }, choice, builder);
    return { read, pools: builder.finish({ option: null, rules: RULES }, DEFAULT_HOLD_TIMES).size };
  };

  it('reads the /proc file under auto, and conntrack -L per family when the file is missing', async () => {
    const withFile = fakeHost({ '/proc/42/net/nf_conntrack': fixture('router.nf_conntrack') });
    assert.deepEqual(await count(withFile, 'auto'), { read: { from: '/proc/42/net/nf_conntrack', entries: 107 }, pools: 4 });
    assert.deepEqual(withFile.ran, []);
    const without = fakeHost({});
    assert.deepEqual(await count(without, 'auto'), { read: { from: '/usr/sbin/conntrack', entries: 107 }, pools: 4 });
    assert.deepEqual(without.ran, [
      ['/usr/sbin/conntrack', ...conntrackArguments('ipv4')],
      ['/usr/sbin/conntrack', ...conntrackArguments('ipv6')],
    ]);
  });

  it('says why the program failed, and refuses --proc-only without the file', async () => {
    await assert.rejects(count(fakeHost({}, 1), 'conntrack'), /\/usr\/sbin\/conntrack: exit status 1: conntrack v1.4.7 \(conntrack-tools\): Operation not permitted/);
    await assert.rejects(count(fakeHost({}), 'proc'), /nf_conntrack: missing/);
  });
});
