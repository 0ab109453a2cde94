/** The NAT rules' parsers on real captured rulesets (test/fixtures/ruleset/README.md). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ChildProcess, Host } from '../../src/host/host';
import { kernelHas, readNatRules } from '../../src/sources/ruleset/read';
import { parseIptablesSave, parseNftRuleset } from '../../src/sources/ruleset/rules';
import { FIXTURES } from '../helpers';

const fixture = (name: string) => readFileSync(join(FIXTURES, 'ruleset', name), 'utf8');

describe('nft -j list ruleset', () => {
  it('reads masquerade and snat statements with their family, protocol, address and ports', () => {
    assert.deepEqual(parseNftRuleset(fixture('native.nft.json')), {
      xtTargets: false,
      rules: [
        { family: 4, protocol: 'tcp', address: null, range: { low: 40000, high: 40009 } },
        { family: 4, protocol: null, address: null, range: null },
        { family: 4, protocol: 'tcp', address: '10.2.0.1', range: { low: 41000, high: 41099 } },
        { family: 4, protocol: 'udp', address: '10.2.0.5', range: null },
        { family: 4, protocol: 'udp', address: null, range: { low: 50000, high: 50000 } },
        // inet tables: the family is the snat statement's own.
        { family: 6, protocol: 'tcp', address: 'fd00:2::1', range: { low: 42000, high: 42010 } },
        // A set of protocols pins none; an address range names no one address.
        { family: 4, protocol: null, address: null, range: { low: 43000, high: 43001 } },
      ],
    });
  });

  it('tells that iptables-nft rules hide their range in an xt target', () => {
    assert.deepEqual(parseNftRuleset(fixture('iptables-nft.nft.json')), { xtTargets: true, rules: [] });
  });

  it('refuses what is not nft JSON', () => {
    assert.throws(() => parseNftRuleset('{"x": 1}'), /no "nftables" array/);
  });
});

describe('iptables-save -t nat', () => {
  it('reads MASQUERADE --to-ports and SNAT --to-source of either backend', () => {
    assert.deepEqual(parseIptablesSave(fixture('iptables-nft.iptables-save'), 4), [
      { family: 4, protocol: 'tcp', address: null, range: { low: 40000, high: 40099 } },
      { family: 4, protocol: 'udp', address: null, range: null },
    ]);
    assert.deepEqual(parseIptablesSave(fixture('legacy.iptables-save'), 4), [
      { family: 4, protocol: 'tcp', address: null, range: { low: 40000, high: 40009 } },
      { family: 4, protocol: 'udp', address: null, range: { low: 1000, high: 2000 } },
      { family: 4, protocol: null, address: '10.2.0.7', range: null },
      { family: 4, protocol: 'tcp', address: null, range: { low: 5000, high: 5000 } },
    ]);
    assert.deepEqual(parseIptablesSave(fixture('legacy.ip6tables-save'), 6), [{ family: 6, protocol: 'tcp', address: null, range: { low: 45000, high: 45010 } }]);
  });

  it('reads bracketed IPv6 SNAT targets, and a negated protocol pins none', () => {
    const text = '-A POSTROUTING -p tcp -j SNAT --to-source [fd00::1]:1000-2000\n-A POSTROUTING ! -p udp -j SNAT --to-source fd00::2\n';
    assert.deepEqual(parseIptablesSave(text, 6), [
      { family: 6, protocol: 'tcp', address: 'fd00::1', range: { low: 1000, high: 2000 } },
      { family: 6, protocol: null, address: 'fd00::2', range: null },
    ]);
  });
});

describe('readNatRules', () => {
  function fakeHost(outputs: Record<string, string>, files: Record<string, string> = {}): Host & { ran: string[] } {
    const ran: string[] = [];
    return {
      littleEndian: true,
      elevated: null,
      ran,
      async readText(path) {
        return files[path];
      },
      async open() {
        return undefined;
      },
      findProgram(paths) {
        const name = paths[0].split('/').pop()!;
        if (!(name in outputs)) throw new Error(`unexpected ${name}`);
        return paths[0];
      },
      async spawn(file): Promise<ChildProcess> {
        const name = file.split('/').pop()!;
        ran.push(name);
        const out = outputs[name];
        return {
          async drain(onChunk) {
            onChunk(Buffer.from(out));
            return { code: out === 'FAIL' ? 1 : 0, signal: null, stderr: out === 'FAIL' ? 'Operation not permitted' : '' };
          },
          kill() {},
        };
      },
    };
  }

  it('reads iptables-nft-save when nft shows xt targets, and the legacy table only when it exists', async () => {
    const host = fakeHost({ nft: fixture('iptables-nft.nft.json'), 'iptables-nft-save': fixture('iptables-nft.iptables-save'), 'ip6tables-nft-save': '', 'iptables-legacy-save': fixture('legacy.iptables-save') }, { '/proc/7/net/ip_tables_names': 'filter\nnat\n', '/proc/7/net/ip6_tables_names': '' });
    const read = await readNatRules({ host, procRoot: '/proc/7', signal: new AbortController().signal, onStage: () => {} });
    assert.deepEqual(host.ran, ['nft', 'iptables-nft-save', 'ip6tables-nft-save', 'iptables-legacy-save']);
    assert.deepEqual(read.read, host.ran);
    assert.equal(read.rules?.length, 2 + 4);
  });

  it('asks nothing of nf_tables on a kernel whose modules do not include it (asking would load it)', async () => {
    const files = { '/proc/modules': 'nf_conntrack 180224 1 - Live 0x0\nip_tables 36864 1 iptable_nat, Live 0x0\n', '/proc/sys/kernel/osrelease': '6.1.0-13-amd64\n', '/lib/modules/6.1.0-13-amd64/modules.builtin': 'kernel/net/ipv4/tcp_cubic.ko\n', '/proc/7/net/ip_tables_names': 'nat\n' };
    const host = fakeHost({ 'iptables-legacy-save': fixture('legacy.iptables-save') }, files);
    const read = await readNatRules({ host, procRoot: '/proc/7', signal: new AbortController().signal, onStage: () => {} });
    assert.deepEqual(host.ran, ['iptables-legacy-save']);
    assert.equal(read.rules?.length, 4);
    assert.deepEqual(read.unread, ['nft: not asked, the kernel has no nf_tables (asking would load it)']);
    // Built in, or loaded: asked.
    assert.equal(await kernelHas(fakeHost({}, { ...files, '/lib/modules/6.1.0-13-amd64/modules.builtin': 'kernel/net/netfilter/nf_tables.ko\n' }), 'nf_tables'), true);
    assert.equal(await kernelHas(fakeHost({}, { ...files, '/proc/modules': 'nf_tables 348160 0 - Live 0x0\n' }), 'nf_tables'), true);
    // No legacy table either: no rule at all, which is an answer (the pools' ranges are then assumed).
    const bare = await readNatRules({ host: fakeHost({}, { ...files, '/proc/7/net/ip_tables_names': '' }), procRoot: '/proc/7', signal: new AbortController().signal, onStage: () => {} });
    assert.deepEqual(bare.rules, []);
  });

  it('skips iptables-nft-save when nft shows none, and says what failed without failing', async () => {
    const host = fakeHost({ nft: fixture('native.nft.json') });
    const read = await readNatRules({ host, procRoot: '/proc/7', signal: new AbortController().signal, onStage: () => {} });
    assert.deepEqual(host.ran, ['nft']);
    assert.equal(read.rules?.length, 7);
    const failing = fakeHost({ nft: 'FAIL', 'iptables-nft-save': 'FAIL', 'ip6tables-nft-save': 'FAIL' });
    const none = await readNatRules({ host: failing, procRoot: '/proc/7', signal: new AbortController().signal, onStage: () => {} });
    assert.equal(none.rules, null);
    assert.deepEqual(none.unread, ['/usr/sbin/nft: exit status 1', '/usr/sbin/iptables-nft-save: exit status 1', '/usr/sbin/ip6tables-nft-save: exit status 1']);
  });
});
