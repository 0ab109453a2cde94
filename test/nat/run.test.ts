/**
 * --nat through the whole check, without root: on a captured /proc tree holding a router's
 * conntrack table (a copy is read as it is, by anyone), and on the live kernel as a user
 * who may not read conntrack (one line, the counters, never an error).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nodeHost } from '../../src/host/node-host';
import { run } from '../../src/run';
import { FIXTURES } from '../helpers';

/** host-idle's tables and sysctls, plus the router's conntrack table and counters. */
const copy = mkdtempSync(join(tmpdir(), 'cep-nat-'));
cpSync(join(FIXTURES, 'host-idle'), copy, { recursive: true });
cpSync(join(FIXTURES, 'conntrack', 'router.nf_conntrack'), join(copy, 'net', 'nf_conntrack'));
cpSync(join(FIXTURES, 'conntrack', 'router.stat'), join(copy, 'net', 'stat', 'nf_conntrack'), { recursive: true });
after(() => rmSync(copy, { recursive: true, force: true }));

const user = { ...nodeHost, euid: 1000, elevated: null };

describe('--nat, whole check', () => {
  it('judges a copy\'s NAT pools with the default class, assumed (its rules cannot be read), and names the worst', async () => {
    const r = await run(['--proc', copy, '--nat', '--format', 'json', '--top', '2'], user);
    const body = JSON.parse(r.stdout) as { status: string; summary: string; nat: { remote: string; remotePort: number; capacity: number; used: number; rangeFrom: string }[]; natReading: { poolsSelected: number; poolsOmitted: number; conntrack: { insertFailed: number; drop: number } } };
    assert.equal(body.status, 'OK');
    assert.deepEqual(body.nat.map((p) => [p.remote, p.remotePort, p.used, p.capacity, p.rangeFrom]), [
      ['10.2.0.2', 5432, 100, 64512, 'assumed'],
      ['10.2.0.3', 6000, 4, 64512, 'assumed'],
    ]);
    assert.deepEqual([body.natReading.poolsSelected, body.natReading.poolsOmitted], [4, 2]);
    assert.deepEqual(body.natReading.conntrack, { insertFailed: 16, drop: 16 });
  });

  it('with --nat-range the same copy runs out: CRITICAL, named in the summary, in perfdata and Prometheus', async () => {
    const text = await run(['--proc', copy, '--nat-range', '40000-40099', '--tcp'], user);
    assert.equal(text.exitCode, 2);
    assert.match(text.stdout, /^EPHEMERAL PORTS CRITICAL - worst nat tcp 10\.2\.0\.1 -> 10\.2\.0\.2:5432: 100\/100 ports used \(100\.0% > 90\), 0 left; insert_failed 16\n\[CRITICAL\] nat tcp 10\.2\.0\.1 -> 10\.2\.0\.2:5432: 100\/100 ports used \(100\.0% > 90\), 0 left; range 40000-40099 \(option\)\n/);
    assert.match(text.stdout, /\[OK\] nat tcp 10\.2\.0\.1 -> 10\.2\.0\.3:6000: 4\/100 ports used \(4\.0%\), 96 left; range 40000-40099 \(option\); TIME_WAIT 3, CLOSE 1; 0\.13 closes\/s, 25x headroom, ceiling 0\.83\/s\n/);
    assert.match(text.stdout, / nat_worst_usage=100%;70;90;0;100 nat_worst_remaining=0;;;0;100 nat_insert_failed=16;;;0\n$/);
    const prom = await run(['--proc', copy, '--nat-range', '40000-40099', '--format', 'prometheus'], user);
    assert.match(prom.stdout, /\nephemeral_ports_nat_worst_usage_ratio 1\n/);
    assert.match(prom.stdout, /\nephemeral_ports_nat_worst_remaining 0\n/);
    assert.match(prom.stdout, /\nephemeral_ports_nat_insert_failed 16\n/);
  });

  it('--remote-port selects NAT pools as it selects tuples', async () => {
    const r = await run(['--proc', copy, '--nat', '--remote-port', '6000', '--format', 'json'], user);
    assert.deepEqual((JSON.parse(r.stdout) as { nat: { remotePort: number }[] }).nat.map((p) => p.remotePort), [6000]);
  });

  it('without --nat says it was not asked', async () => {
    const r = await run(['--proc', copy, '--format', 'json'], user);
    assert.equal((JSON.parse(r.stdout) as { nat: string }).nat, 'not asked: --nat');
    assert.doesNotMatch(r.stdout, /nat_/);
  });

  it('the live kernel without root: not readable, the counters only, one line in -v, never an error', async () => {
    const live = (await nodeHost.readText('/proc/net/stat/nf_conntrack')) !== undefined;
    const json = await run(['--nat', '--format', 'json', '--source', 'proc'], user);
    const body = JSON.parse(json.stdout) as { status: string; nat: string; natReading: { conntrack: object | null } };
    assert.notEqual(body.status, 'UNKNOWN');
    assert.equal(body.nat, 'not readable: root needed');
    assert.equal(body.natReading.conntrack === null, !live);
    const text = await run(['--nat', '-v', '--source', 'proc'], user);
    assert.equal(text.stdout.split('\n').filter((l) => l.startsWith('NAT pools: not read: root needed (conntrack and the NAT rules are root\'s)')).length, 1);
    assert.doesNotMatch(text.stdout, /nat_worst/);
  });
});
