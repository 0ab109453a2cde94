/**
 * icinga/zabbix/: the agent file (UserParameters) on Debian's real zabbix_agentd 6.0, in its
 * test mode (`-t KEY`), as the zabbix user; and the template's preprocessing, discovery and
 * triggers, evaluated as the Zabbix server would (./zabbix.ts) on the values the agent gave.
 *
 * The agent ignores the exit code and mixes stderr into the value, so the state must come
 * from the JSON: frozen /proc trees with thresholds chosen for each state give OK, WARNING,
 * CRITICAL and UNKNOWN, and each must reach the template's state item as 0..3, fire exactly
 * its own trigger, and every JSONPath of the template must resolve on it (or fall to its
 * declared error handler, where the JSON of that state has no such field).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, bundleMissing, runBundle, skipUnless, stageForOtherUser, type Staged } from '../helpers';
import { commandMissing } from './support';
import { ZABBIX_AGENTD, agentTest, discover, loadTemplates, preprocess, triggerFires, userParameters, type Template } from './zabbix';

const AGENT_FILE = join(ROOT, 'icinga', 'zabbix', 'check_ephemeral_ports.conf');
const TEMPLATE_FILE = join(ROOT, 'icinga', 'zabbix', 'template_ephemeral_ports.yaml');
const SHIPPED_PATH = '/usr/lib/nagios/plugins/check_ephemeral_ports';
const FIXTURE = 'db-client-tw-reuse-0'; // worst tuple 74.5 % used

const zabbixUser = () => (spawnSync('id', ['zabbix']).status !== 0 ? 'there is no zabbix user (zabbix-agent makes it)' : false);
const skip = skipUnless(bundleMissing() || (process.getuid?.() !== 0 && 'needs root to run the agent as zabbix') || commandMissing(ZABBIX_AGENTD, 'runuser') || zabbixUser());

/** The thresholds that give each state on the fixture, and the state number the template must store. */
const STATES = [
  { name: 'OK', state: 0, args: (f: string) => ['--proc', f, '-w', '80', '-c', '90'] },
  { name: 'WARNING', state: 1, args: (f: string) => ['--proc', f] },
  { name: 'CRITICAL', state: 2, args: (f: string) => ['--proc', f, '-w', '50', '-c', '60'] },
  { name: 'UNKNOWN', state: 3, args: (f: string) => ['--proc', join(f, 'missing')] },
] as const;

describe('Zabbix agent and template', { skip }, () => {
  let stage: Staged;
  let config: string;
  let shipped: Map<string, string>;
  let templates: Template[];
  const values = new Map<string, string>();

  before(() => {
    stage = stageForOtherUser('zabbix', [FIXTURE]);
    const text = readFileSync(AGENT_FILE, 'utf8').split(SHIPPED_PATH).join(stage.bundle);
    shipped = userParameters(text);
    const base = shipped.get('ephemeral_ports.json')!;
    const extra = STATES.map((s) => `UserParameter=ephemeral_ports.json.${s.name.toLowerCase()},${[base, ...s.args(stage.fixture(FIXTURE))].join(' ')}`);
    writeFileSync(join(stage.dir, 'shipped.conf'), text);
    config = join(stage.dir, 'zabbix_agentd.conf');
    // Test mode needs no server and writes no log file; Timeout is left at its default (3 s).
    writeFileSync(config, ['LogType=console', 'Server=127.0.0.1', `Include=${join(stage.dir, 'shipped.conf')}`, ...extra, ''].join('\n'));
    templates = loadTemplates(TEMPLATE_FILE);
  });

  after(() => stage?.remove());

  test('the agent file: fixed keys, -t below the agent\'s default Timeout of 3 s, JSON format', () => {
    assert.deepEqual([...shipped.keys()], ['ephemeral_ports.json', 'ephemeral_ports.namespaces.json']);
    for (const [key, command] of shipped) {
      assert.ok(!key.includes('['), `${key}: no parameters from the server`);
      const t = /(?:^| )-t (\d+(?:\.\d+)?)(?: |$)/.exec(command);
      assert.ok(t && Number(t[1]) < 3, `${key}: -t below 3 s in ${command}`);
      assert.match(command, / --format json( |$)/);
    }
  });

  for (const s of STATES) {
    test(`${s.name}: the agent's value is the plugin's JSON, and the template stores state ${s.state}`, () => {
      const got = agentTest(config, `ephemeral_ports.json.${s.name.toLowerCase()}`, 'zabbix');
      assert.equal(got.type, 't');
      // The agent's value is exactly what the plugin prints (the agent drops the final newline).
      const direct = runBundle([...shipped.get('ephemeral_ports.json')!.split(' ').slice(1), ...s.args(stage.fixture(FIXTURE))]);
      assert.equal(direct.status, s.state);
      assert.equal(direct.stderr, '');
      assert.equal(got.value, direct.stdout.trimEnd());
      const json = JSON.parse(got.value);
      assert.equal(json.status, s.name);
      values.set(s.name, got.value);

      const [t] = templates;
      const state = t.items.find((i) => i.key === 'ephemeral_ports.state')!;
      assert.deepEqual(preprocess(got.value, state.preprocessing), { value: String(s.state) });
      // Exactly the trigger of this state fires (none for OK).
      const fired = t.items.flatMap((i) => i.triggers ?? []).filter((tr) => tr.expression.startsWith('last(') && triggerFires(tr.expression, new Map([['ephemeral_ports.state', String(s.state)]])));
      assert.deepEqual(fired.map((f) => f.name), s.state === 0 ? [] : [`Ephemeral ports ${s.name}`]);
    });
  }

  test('every dependent item of the host template resolves on each state\'s value, to the JSON\'s own figure', () => {
    const [t] = templates;
    assert.equal(t.template, 'Ephemeral ports by Zabbix agent');
    const dependent = t.items.filter((i) => i.type === 'DEPENDENT');
    assert.ok(dependent.every((i) => i.master_item?.key === 'ephemeral_ports.json'));
    for (const s of STATES) {
      const value = values.get(s.name);
      assert.ok(value, `${s.name} ran`);
      const json = JSON.parse(value);
      const got = Object.fromEntries(dependent.map((i) => [i.key, preprocess(value, i.preprocessing)]));
      for (const [key, outcome] of Object.entries(got)) assert.ok(!('error' in outcome), `${s.name} ${key}: ${JSON.stringify(outcome)}`);
      assert.deepEqual(got['ephemeral_ports.summary'], { value: json.summary });
      if (s.state === 3) {
        // A failure's JSON has status and summary only: the figures keep their last value.
        assert.deepEqual(got['ephemeral_ports.worst.usage'], { value: '0' });
        assert.deepEqual(got['ephemeral_ports.worst.remaining'], { discarded: true });
        continue;
      }
      const worst = json.tuples[0];
      assert.deepEqual(got['ephemeral_ports.worst.usage'], { value: String(worst.usage) });
      assert.deepEqual(got['ephemeral_ports.worst.remaining'], { value: String(worst.remaining) });
      assert.deepEqual(got['ephemeral_ports.worst.used'], { value: String(worst.used) });
      assert.deepEqual(got['ephemeral_ports.capacity'], { value: String(json.capacity) });
      assert.deepEqual(got['ephemeral_ports.tuples'], { value: String(json.tuplesSelected) });
      assert.deepEqual(got['ephemeral_ports.udp.used'], { value: String(json.tuples.find((p: any) => p.protocol === 'udp').used) });
      assert.equal(worst.usage, Math.max(...json.tuples.map((p: any) => p.usage)), 'the first tuple is the worst');
    }
  });

  test('discovery finds each listed TCP tuple, and its prototypes resolve to that tuple\'s figures', () => {
    const [t] = templates;
    const rule = t.discovery_rules![0];
    const value = values.get('WARNING')!;
    const json = JSON.parse(value);
    const found = discover(rule, value);
    const tcp = json.tuples.filter((p: any) => p.protocol === 'tcp');
    assert.ok(tcp.length >= 2);
    assert.deepEqual(found.map((m) => `${m['{#LOCAL}']} ${m['{#REMOTE}']}:${m['{#REMOTEPORT}']}`), tcp.map((p: any) => `${p.local} ${p.remote}:${p.remotePort}`));
    for (const [i, macros] of found.entries()) {
      const out = Object.fromEntries(rule.item_prototypes.map((p) => [p.key.replace(/\[.*/, ''), preprocess(value, p.preprocessing, macros)]));
      assert.deepEqual(out, {
        'ephemeral_ports.tuple.usage': { value: String(tcp[i].usage) },
        'ephemeral_ports.tuple.remaining': { value: String(tcp[i].remaining) },
        'ephemeral_ports.tuple.state': { value: String(STATES.find((s) => s.name === tcp[i].status)!.state) },
      });
    }
    // A tuple that left the list: no value (the item keeps its last one until LLD drops it).
    const gone = { ...found[0], '{#REMOTEPORT}': '1' };
    for (const p of rule.item_prototypes) assert.deepEqual(preprocess(value, p.preprocessing, gone), { discarded: true });
  });

  test('a value that is not the JSON (stderr mixed in, a killed command) is state 3, UNKNOWN', () => {
    const [t] = templates;
    const state = t.items.find((i) => i.key === 'ephemeral_ports.state')!;
    for (const junk of [`node: warning\n${values.get('OK')}`, 'ZBX_NOTSUPPORTED: Timeout while executing a shell script.', '']) {
      assert.deepEqual(preprocess(junk, state.preprocessing), { value: '3' });
    }
  });

  test('containers: the namespaces key on the live host, each namespace discovered and its prototypes resolved', () => {
    const got = agentTest(config, 'ephemeral_ports.namespaces.json', 'zabbix');
    const json = JSON.parse(got.value);
    assert.ok(Array.isArray(json.namespaces) && json.namespaces.length >= 1, got.value.slice(0, 500));
    const t = templates[1];
    assert.equal(t.template, 'Ephemeral ports of containers by Zabbix agent');
    for (const i of t.items.filter((x) => x.type === 'DEPENDENT')) {
      assert.equal(i.master_item?.key, 'ephemeral_ports.namespaces.json');
      assert.ok('value' in preprocess(got.value, i.preprocessing), `${i.key}: ${JSON.stringify(preprocess(got.value, i.preprocessing))}`);
    }
    const stateItem = t.items.find((i) => i.key === 'ephemeral_ports.namespaces.state')!;
    assert.deepEqual(preprocess(got.value, stateItem.preprocessing), { value: String(STATES.find((s) => s.name === json.status)!.state) });
    const rule = t.discovery_rules![0];
    const found = discover(rule, got.value);
    // Discovered by name (their nsfs inode is null for a user other than root): names are unique.
    assert.deepEqual(found.map((m) => m['{#NSNAME}']), json.namespaces.map((n: any) => n.name));
    assert.equal(new Set(found.map((m) => m['{#NSNAME}'])).size, found.length);
    for (const [i, macros] of found.entries()) {
      const ns = json.namespaces[i];
      const out = Object.fromEntries(rule.item_prototypes.map((p) => [p.key.replace(/\[.*/, ''), preprocess(got.value, p.preprocessing, macros)]));
      const listed = json.tuples.filter((p: any) => p.namespace === ns.name).map((p: any) => p.usage);
      assert.deepEqual(out, {
        'ephemeral_ports.namespace.state': { value: String(STATES.find((s) => s.name === ns.status)!.state) },
        'ephemeral_ports.namespace.capacity': { value: String(ns.capacity) },
        'ephemeral_ports.namespace.usage': listed.length ? { value: String(Math.max(...listed)) } : { discarded: true },
        'ephemeral_ports.namespace.settings': { value: ns.settings },
      });
    }
  });

  test('every trigger and prototype names only its own template and keys the template defines', () => {
    for (const t of templates) {
      const keys = new Set([...t.items.map((i) => i.key), ...(t.discovery_rules ?? []).flatMap((r) => r.item_prototypes.map((p) => p.key))]);
      const triggers = [...t.items.flatMap((i) => i.triggers ?? []), ...(t.discovery_rules ?? []).flatMap((r) => r.item_prototypes.flatMap((p) => p.trigger_prototypes ?? []))];
      assert.ok(triggers.length >= 4);
      for (const tr of triggers) {
        for (const m of tr.expression.matchAll(/\(\/([^/]+)\/([^,)]+(?:\[[^\]]*\])?)/g)) {
          assert.equal(m[1], t.template, tr.expression);
          assert.ok(keys.has(m[2]), `${tr.expression}: ${m[2]} is not an item of ${t.template}`);
        }
      }
    }
  });
});
