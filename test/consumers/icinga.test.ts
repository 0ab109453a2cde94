/**
 * icinga/ephemeral_ports.conf and icinga/services.conf.example, proven on Debian's Icinga 2:
 * the CheckCommand maps every option with its --help text, `icinga2 daemon -C` accepts it
 * in the distributed layout (global zone + master zone + an agent's command_endpoint), and
 * a real daemon runs the committed bundle and stores the state, output and perfdata that
 * a direct run prints; Icinga's own parser reads every perfdata value as written.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, ROOT, bundleMissing, runBundle, skipUnless } from '../helpers';
import { ICINGA2, IcingaDaemon, compiledServices, icingaParsePerfdata, makeLayout, validate, type StoredCheckResult } from './icinga2';
import { CHURN_175, POOL_80, commandMissing, removeDir, scratchDir, splitNagiosOutput, stableLabels, writeProcTree } from './support';

const CONF = join(ROOT, 'icinga', 'ephemeral_ports.conf');
const EXAMPLE = join(ROOT, 'icinga', 'services.conf.example');
const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];
const skip = skipUnless(bundleMissing() || commandMissing(ICINGA2));

interface HelpOption { long: string; short?: string; arg?: string; description: string }

/** The options as `--help` prints them: `  -w, --warning RANGE      text (default: 70)`. */
function helpOptions(): HelpOption[] {
  const help = runBundle(['--help']).stdout;
  const options: HelpOption[] = [];
  for (const line of help.split('\n')) {
    const m = /^ {2}(?:-(\w), )?--([\w-]+)(?: (\S+))? {2,}(\S.*)$/.exec(line);
    if (m) options.push({ short: m[1], long: m[2], arg: m[3], description: m[4] });
  }
  return options;
}

/** The body of `"--long" = { ... }` in the arguments dictionary (braces counted). */
function argumentBlock(conf: string, long: string): string | undefined {
  const start = conf.indexOf(`"--${long}" = {`);
  if (start === -1) return undefined;
  let depth = 0;
  for (let i = conf.indexOf('{', start); i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    if (conf[i] === '}' && --depth === 0) return conf.slice(start, i + 1);
  }
  return undefined;
}

/**
 * An argv as its options, each with its value, in a canonical order. Icinga sorts the
 * arguments by their `order` alone with std::sort, which is not stable: beyond 16 arguments
 * of equal order their sequence is scrambled. The plugin does not care about the order.
 */
function options(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const option = argv[i];
    const value = argv[i + 1] !== undefined && !argv[i + 1].startsWith('-') ? argv[++i] : null;
    out.push(value === null ? option : `${option} ${value}`);
  }
  return out.sort();
}

const varName = (long: string) => `ephemeral_ports_${long.replace(/-/g, '_')}`;

describe('Icinga 2 CheckCommand (static)', { skip: skipUnless(bundleMissing()) }, () => {
  const conf = readFileSync(CONF, 'utf8');

  test('every option of --help but -h and -V is mapped, with the --help text as description', () => {
    const options = helpOptions();
    assert.ok(options.length >= 19, `parsed ${options.length} options from --help`);
    for (const o of options) {
      const block = argumentBlock(conf, o.long);
      if (o.long === 'help' || o.long === 'version') {
        assert.equal(block, undefined, `--${o.long} must not be mapped`);
        continue;
      }
      assert.ok(block, `--${o.long} is not mapped`);
      assert.match(block, new RegExp(`description = ${JSON.stringify(o.description).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`), `--${o.long}: description differs from --help`);
      if (o.long === 'verbose') {
        assert.match(block, /set_if = \{\{/);
        assert.match(block, /skip_key = true/);
      } else if (o.arg === undefined) {
        assert.match(block, new RegExp(`set_if = "\\$${varName(o.long)}\\$"`), `--${o.long} is a flag: set_if`);
        assert.doesNotMatch(block, /value =/);
      } else {
        assert.match(block, new RegExp(`value = "\\$${varName(o.long)}\\$"`), `--${o.long}: value macro`);
      }
      assert.equal(/repeat_key = true/.test(block), /repeatable$/.test(o.description), `--${o.long}: repeat_key iff repeatable`);
    }
  });

  test('ITL style: command array on PluginDir, prefixed custom variables, defaults 70/90', () => {
    assert.match(conf, /object CheckCommand "ephemeral_ports" \{/);
    assert.match(conf, /command = \[ PluginDir \+ "\/check_ephemeral_ports" \]/);
    for (const m of conf.matchAll(/\$([a-z0-9_.]+)\$/g)) assert.match(m[1], /^ephemeral_ports_/, `macro $${m[1]}$`);
    for (const m of conf.matchAll(/vars\.([a-z0-9_]+)/g)) assert.match(m[1], /^ephemeral_ports_/, `vars.${m[1]}`);
    assert.match(conf, /vars\.ephemeral_ports_warning = 70\n/);
    assert.match(conf, /vars\.ephemeral_ports_critical = 90\n/);
  });
});

describe('icinga2 daemon -C', { skip }, () => {
  let dir: string | undefined;
  after(() => removeDir(dir));

  test('accepts the CheckCommand in the global zone and the example services in the master zone, agent included', () => {
    dir = scratchDir('icinga-validate');
    const layout = makeLayout(join(dir, 'ok'), { check_ephemeral_ports: BUNDLE }, {
      zones: true,
      extra: 'object Endpoint "agent-1.example.com" { }\nobject Zone "agent-1.example.com" { endpoints = [ "agent-1.example.com" ]; parent = ZoneName }',
    });
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports.conf'), readFileSync(CONF));
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports_sudo.conf'), readFileSync(join(ROOT, 'icinga', 'ephemeral_ports_sudo.conf')));
    writeFileSync(join(layout.masterZoneDir, 'services.conf'), readFileSync(EXAMPLE));
    writeFileSync(join(layout.masterZoneDir, 'hosts.conf'), [
      'object Host "agent-1.example.com" { check_command = "dummy"; vars.os = "Linux"; vars.agent_endpoint = name; vars.containers = true; vars.ephemeral_ports_db_pool = [ "198.51.100.0/28", "192.0.2.7" ] }',
      'object Host "master" { check_command = "dummy"; vars.os = "Linux" }',
      'object Host "windows" { check_command = "dummy"; vars.os = "Windows" }',
    ].join('\n'));
    const r = validate(layout);
    assert.equal(r.status, 0, r.output);

    const services = compiledServices(layout);
    assert.deepEqual([...services.keys()].sort(), ['agent-1.example.com!ephemeral-ports', 'agent-1.example.com!ephemeral-ports-containers', 'agent-1.example.com!ephemeral-ports-db-pool', 'master!ephemeral-ports']);
    const containers = services.get('agent-1.example.com!ephemeral-ports-containers')!;
    assert.equal(containers.check_command, 'ephemeral_ports_sudo');
    assert.equal(containers.vars.ephemeral_ports_namespaces, 'all');
    assert.equal(containers.command_endpoint, 'agent-1.example.com');
    const agent = services.get('agent-1.example.com!ephemeral-ports-db-pool')!;
    assert.equal(agent.check_command, 'ephemeral_ports');
    assert.equal(agent.command_endpoint, 'agent-1.example.com', 'runs on the agent');
    assert.deepEqual(agent.vars.ephemeral_ports_remote, ['198.51.100.0/28', '192.0.2.7']);
    assert.equal(services.get('master!ephemeral-ports')!.command_endpoint, '', 'the master checks itself');
  });

  test('rejects a service whose check command does not exist (so the acceptance above means something)', () => {
    const layout = makeLayout(join(dir!, 'bad'), { check_ephemeral_ports: BUNDLE }, { zones: true });
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports.conf'), readFileSync(CONF));
    writeFileSync(join(layout.masterZoneDir, 'bad.conf'), 'object Host "h" { check_command = "dummy" }\nobject Service "s" { host_name = "h"; check_command = "ephemeral_portz" }\n');
    const r = validate(layout);
    assert.equal(r.status, 1, r.output);
    assert.match(r.output, /ephemeral_portz/);
  });
});

describe('a real Icinga 2 daemon running the bundle', { skip }, () => {
  let dir: string;
  let icinga: IcingaDaemon | undefined;
  let stored: Map<string, StoredCheckResult>;
  let proc: string;
  let holder: ChildProcess | undefined;

  interface Case { vars: Record<string, unknown>; state: number; exact: boolean; argv?: string[] }
  const cases = new Map<string, Case>();
  const host = 'db-client';

  before(async () => {
    dir = scratchDir('icinga-daemon');
    proc = writeProcTree(join(dir, 'proc-80'), POOL_80);
    const missing = join(dir, 'no-such-proc');
    cases.set('pool-80', { vars: { proc }, state: 1, exact: true });
    cases.set('pool-80-critical', { vars: { proc, critical: 75 }, state: 2, exact: true });
    cases.set('pool-80-ok', { vars: { proc, warning: 85, critical: 95, verbose: true }, state: 0, exact: true });
    cases.set('pool-80-remaining', { vars: { proc, warning: 99, critical: 99, critical_remaining: 25 }, state: 2, exact: true });
    const churn = writeProcTree(join(dir, 'proc-churn'), CHURN_175);
    cases.set('churn-warning', { vars: { proc: churn, warning_churn: 2, critical_churn: 1.5 }, state: 1, exact: true });
    cases.set('churn-critical', { vars: { proc: churn, warning_churn: 3, critical_churn: 2 }, state: 2, exact: true });
    cases.set('forced-warning', { vars: { warning: '@0:100' }, state: 1, exact: false });
    cases.set('forced-critical', { vars: { critical_remaining: 65535 }, state: 2, exact: false });
    cases.set('unknown', { vars: { proc: missing }, state: 3, exact: true });
    // --namespaces on a namespace of our own (an empty one, held by a sleep): a fixed answer.
    holder = spawn('unshare', ['-n', 'sleep', '600'], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pid = String(holder.pid);
    cases.set('namespaces', { vars: { namespaces: pid, owners: true, verbose: true }, state: 0, exact: true, argv: ['--critical', '90', '--namespaces', pid, '--owners', '-v', '--warning', '70'] });
    cases.set('all-options', {
      vars: {
        proc, remote: ['192.0.2.0/24', '198.51.100.7'], remote_port: [5432, '6432-6439'], local: ['127.0.0.0/8', '::1'],
        tcp: true, udp: false, ipv4: true, ipv6: false, top: 0, tuple_perfdata: true, verbose: 3, timeout: 5, format: 'nagios',
        warning_remaining: 30, critical_remaining: 10, warning_churn: 3, critical_churn: 1.5,
      },
      state: 1,
      exact: true,
      // Icinga writes a number with decimals as %f: 1.5 becomes 1.500000, read alike.
      argv: ['--critical', '90', '--critical-churn', '1.500000', '--critical-remaining', '10', '--format', 'nagios', '--ipv4', '--local', '127.0.0.0/8', '--local', '::1',
        '--proc', proc, '--remote', '192.0.2.0/24', '--remote', '198.51.100.7', '--remote-port', '5432', '--remote-port', '6432-6439',
        '--tcp', '--timeout', '5', '--top', '0', '--tuple-perfdata', '-vvv', '--warning', '70', '--warning-churn', '3', '--warning-remaining', '30'],
    });
    // The example's apply rules, on the real /proc of this machine.
    cases.set('ephemeral-ports', { vars: {}, state: -1, exact: false, argv: ['--critical', '90', '--critical-remaining', '1000', '--warning', '70'] });
    cases.set('ephemeral-ports-db-pool', {
      vars: {}, state: 0, exact: false,
      argv: ['--critical', '80', '--critical-churn', '1.5', '--critical-remaining', '1000', '--remote', '198.51.100.0/28', '--remote', '192.0.2.7',
        '--remote-port', '5432', '--remote-port', '6432', '--tcp', '--warning', '50', '--warning-churn', '3', '--warning-remaining', '5000'],
    });

    const layout = makeLayout(dir, { check_ephemeral_ports: BUNDLE }, { zones: false, extra: IcingaDaemon.runtimeObjects(dir) });
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports.conf'), readFileSync(CONF));
    writeFileSync(join(layout.masterZoneDir, 'services.conf'), readFileSync(EXAMPLE));
    const objects = [`object Host "${host}" { check_command = "dummy"; enable_active_checks = false; vars.os = "Linux"; vars.ephemeral_ports_db_pool = [ "198.51.100.0/28", "192.0.2.7" ] }`];
    for (const [name, c] of cases) {
      if (name.startsWith('ephemeral-ports')) continue;
      const vars = Object.entries(c.vars).map(([k, v]) => `  vars.ephemeral_ports_${k} = ${JSON.stringify(v)}`);
      objects.push(`object Service "${name}" {\n  host_name = "${host}"\n  check_command = "ephemeral_ports"\n  check_interval = 5m\n  retry_interval = 5m\n${vars.join('\n')}\n}`);
    }
    writeFileSync(join(layout.masterZoneDir, 'test-services.conf'), `${objects.join('\n')}\n`);
    const v = validate(layout);
    assert.equal(v.status, 0, v.output);

    icinga = new IcingaDaemon(layout);
    const names = [...cases.keys()].map((n) => `${host}!${n}`);
    try {
      await icinga.forceChecks(names);
      await icinga.waitForResults(names);
    } finally {
      await icinga.stop();
    }
    assert.equal(icinga.daemon.running, false);
    stored = icinga.storedResults();
  });

  after(async () => {
    await icinga?.stop();
    holder?.kill();
    removeDir(dir);
  });

  test('Icinga ran our committed bundle with the arguments the CheckCommand builds', () => {
    for (const [name, c] of cases) {
      const r = stored.get(`${host}!${name}`);
      assert.ok(r, `no stored result for ${name}`);
      assert.equal(r.command[0], join(dir, 'plugins', 'check_ephemeral_ports'));
      if (c.argv) assert.deepEqual(options(r.command.slice(1)), options(c.argv), name);
    }
    const argv = (n: string) => stored.get(`${host}!${n}`)!.command.slice(1);
    assert.deepEqual(argv('pool-80'), ['--critical', '90', '--proc', proc, '--warning', '70'], 'defaults from the CheckCommand vars');
    assert.ok(argv('pool-80-ok').includes('-v'), 'verbose = true gives -v');
    // An empty namespace: its socket counts answer for it (docs/namespaces.md, the bound).
    assert.match(stored.get(`${host}!namespaces`)!.output, /^EPHEMERAL PORTS OK - 1 namespace below 0\.1% by its socket counts\n/);
    assert.ok(!argv('all-options').includes('--ipv6') && !argv('all-options').includes('--udp'), 'set_if false leaves the flag out');
  });

  test('exit code → state: OK, WARNING, CRITICAL and UNKNOWN as the plugin said', () => {
    for (const [name, c] of cases) {
      const r = stored.get(`${host}!${name}`)!;
      const direct = runBundle(r.command.slice(1));
      assert.equal(r.exit_status, direct.status, `${name}: Icinga's exit status vs a direct run`);
      assert.equal(r.state, r.exit_status, `${name}: state`);
      if (c.state >= 0) assert.equal(r.state, c.state, `${name}: expected ${STATES[c.state]}, got ${r.output}`);
      assert.ok(r.output.startsWith(`EPHEMERAL PORTS ${STATES[r.state]} - `), `${name}: ${r.output}`);
    }
    const seen = new Set([...stored.values()].map((r) => r.state));
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
  });

  test('Icinga stored the output and split the perfdata exactly as a direct run prints them', () => {
    for (const [name, c] of cases) {
      const r = stored.get(`${host}!${name}`)!;
      const direct = splitNagiosOutput(runBundle(r.command.slice(1)).stdout);
      if (c.exact) {
        assert.equal(r.output.trimEnd(), direct.text.trimEnd(), `${name}: output`);
        assert.deepEqual(r.performance_data, direct.perfdata, `${name}: perfdata`);
      } else {
        assert.deepEqual(stableLabels(r.performance_data), stableLabels(direct.perfdata), `${name}: perfdata labels`);
      }
      assert.ok(!r.output.includes('|'), `${name}: no perfdata left in the output`);
    }
    assert.equal(stored.get(`${host}!unknown`)!.performance_data.length, 0);
    assert.ok(stored.get(`${host}!all-options`)!.performance_data.some((p) => /^t_[0-9a-f]{8}_192_0_2_10_5432=80;/.test(p)));
  });

  test("every perfdata value survives Icinga's own parser (parse_performance_data)", () => {
    const values = [...new Set([...stored.values()].flatMap((r) => r.performance_data))];
    assert.ok(values.length >= 10);
    const parsed = icingaParsePerfdata(values);
    assert.equal(parsed.length, values.length);
    values.forEach((text, i) => {
      const p = parsed[i];
      const m = /^([a-z0-9_]+)=(-?\d+(?:\.\d+)?)(%?);([^;]*);([^;]*);([^;]*);?([^;]*)$/.exec(text);
      assert.ok(m, `not plain label=value[%];warn;crit;min[;max]: ${text}`);
      const field = (s: string) => (s === '' ? null : Number(s));
      assert.equal(p.label, m[1], text);
      assert.equal(p.value, Number(m[2]), text);
      assert.equal(p.unit, m[3] === '%' ? 'percent' : '', `${text}: unit`);
      assert.equal(p.warn, field(m[4]), `${text}: warn`);
      assert.equal(p.crit, field(m[5]), `${text}: crit`);
      assert.equal(p.min, field(m[6]), `${text}: min`);
      assert.equal(p.max, field(m[7]), `${text}: max`);
      assert.equal(p.counter, false);
    });
    console.log(`# Icinga parsed ${values.length} perfdata values, e.g. ${values[0]} -> ${JSON.stringify(parsed[0])}`);
  });
});
