/**
 * Prometheus, with Debian's own parts: promtool (package prometheus) lints --format
 * prometheus in every state and the rules file; systemd-analyze checks the unit and timer;
 * a real prometheus-node-exporter, as the prometheus user on 127.0.0.1, serves the file
 * that the unit's ExecStart and the cron line wrote, and its values equal the JSON of the
 * same /proc snapshot. Stale, empty and broken files are scraped as the exporter serves
 * them, and `promtool test rules` evaluates icinga/prometheus-rules.yaml on those scrapes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, ROOT, bundleMissing, runBundle, skipUnless } from '../helpers';
import { Daemon, commandMissing, removeDir, scratchDir, waitFor, writeProcTree, type ProcTreeSpec } from './support';

const PROMTOOL = '/usr/bin/promtool';
const EXPORTER = '/usr/bin/prometheus-node-exporter';
const RULES = join(ROOT, 'icinga', 'prometheus-rules.yaml');
const UNIT = join(ROOT, 'icinga', 'ephemeral-ports-textfile.service');
const TIMER = join(ROOT, 'icinga', 'ephemeral-ports-textfile.timer');
const CRON = join(ROOT, 'icinga', 'ephemeral-ports-textfile.cron');
/** The paths the shipped unit and cron line name, replaced by the test's own. */
const PLUGIN_PATH = '/usr/lib/nagios/plugins/check_ephemeral_ports';
const COLLECTOR_DIR = '/var/lib/prometheus/node-exporter';
const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

const skip = skipUnless(bundleMissing() || commandMissing(PROMTOOL, EXPORTER, 'systemd-analyze', 'setpriv'));
/** The exporter runs as the prometheus user, as Debian's unit runs it: only root can switch. */
const exporterSkip = skip || skipUnless(process.getuid?.() === 0 ? false : 'needs root to run node_exporter as the prometheus user');

/** 300 tuples on a 100-port range; the first, the worst, has `clients` sockets. */
const host300 = (clients: number): ProcTreeSpec => ({ range: [40000, 40099], remote: '192.0.2.10', remotePort: 5432, clients, tuples: 300 });
const TREES = { OK: host300(50), WARNING: host300(80), CRITICAL: host300(95) };

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples of the text exposition format; comments, HELP and TYPE lines skipped. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
}

/** Our series, as key → value. */
function ours(samples: readonly Sample[]): Map<string, number> {
  return new Map(samples.filter((s) => s.name.startsWith('ephemeral_ports_')).map((s) => [seriesKey(s.name, s.labels), s.value]));
}

interface JsonPool {
  protocol: string; local: string; remote: string; remotePort: number | null; used: number; remaining: number; capacity: number;
  churn: { closesPerSecond: number; headroomFactor: number | null } | null;
}

/**
 * What --format prometheus must say, from the JSON of the same snapshot (run with --top 0,
 * so the host-wide figures see every pool): the check state, the worst pool, the host
 * figures, and the first `top` pools with their labels.
 */
function expectedFromJson(jsonText: string, top: number): Map<string, number> {
  const j = JSON.parse(jsonText);
  const expected = new Map<string, number>();
  const put = (name: string, value: number, labels: Record<string, string> = {}) => expected.set(seriesKey(`ephemeral_ports_${name}`, labels), value);
  put('check_state', STATES.indexOf(j.status));
  if (j.status === 'UNKNOWN') return expected;
  const pools: JsonPool[] = j.tuples;
  assert.equal(j.tuplesOmitted, 0, 'the JSON must list every pool');
  const ratio = (p: JsonPool) => (p.capacity === 0 ? 1 : p.used / p.capacity);
  const worst: JsonPool = pools[0] ?? j.newTuple;
  put('worst_usage_ratio', ratio(worst));
  put('worst_used', worst.used);
  put('worst_remaining', worst.remaining);
  put('capacity', j.capacity);
  put('tuples', pools.filter((p) => p.protocol === 'tcp').length);
  put('listening_ports', j.listeningPorts);
  put('sockets_in_range', j.tcp.socketsInRange);
  put('time_wait', j.tcp.timeWait);
  put('bind_remaining', j.bindStyle.remaining);
  put('bind_taken', j.bindTaken);
  const worstTcp: JsonPool = pools.find((p) => p.protocol === 'tcp') ?? j.newTuple;
  put('worst_closes_per_second', worstTcp.churn?.closesPerSecond ?? NaN);
  if (worstTcp.churn?.headroomFactor != null) put('worst_churn_headroom_factor', worstTcp.churn.headroomFactor);
  put('udp_used', (pools.find((p) => p.protocol === 'udp') as JsonPool).used);
  put('range_low', j.range.low);
  put('range_high', j.range.high);
  for (const p of pools.slice(0, top)) {
    const labels = { protocol: p.protocol, local: p.local, remote: p.remote, remote_port: p.remotePort === null ? '' : String(p.remotePort) };
    put('tuple_usage_ratio', ratio(p), labels);
    put('tuple_used', p.used, labels);
    put('tuple_remaining', p.remaining, labels);
  }
  return expected;
}

/** Same series, same values; ratios are printed to 6 decimals. */
function assertSameSeries(got: Map<string, number>, expected: Map<string, number>, what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), `${what}: the series`);
  for (const [key, value] of expected) {
    const tolerance = key.includes('_ratio{') ? 5e-7 : 0;
    assert.ok(Math.abs((got.get(key) as number) - value) <= tolerance, `${what}: ${key} is ${got.get(key)}, the JSON says ${value}`);
  }
}

function promtool(args: readonly string[], input?: string) {
  return spawnSync(PROMTOOL, args, { encoding: 'utf8', input, timeout: 60_000 });
}

/** The sh -c script of the unit's ExecStart: checked to hold nothing systemd would expand. */
function unitScript(): string {
  const lines = readFileSync(UNIT, 'utf8').split('\n').filter((l) => l.startsWith('ExecStart='));
  assert.equal(lines.length, 1);
  const m = /^ExecStart=\/bin\/sh -c '([^']*)'$/.exec(lines[0]);
  assert.ok(m, lines[0]);
  assert.doesNotMatch(m[1], /[$%\\]/, 'systemd expands $ and % and unescapes \\ in ExecStart');
  return m[1];
}

/** The command of the cron line (after five time fields and the user). */
function cronCommand(): string {
  const lines = readFileSync(CRON, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  assert.equal(lines.length, 1);
  const m = /^(?:\S+\s+){5}root\s+(.*)$/.exec(lines[0]);
  assert.ok(m, lines[0]);
  assert.doesNotMatch(m[1], /%/, 'cron turns % into a newline');
  return m[1];
}

/** Runs a shipped command line as written, but for the plugin's path and the collector's directory. */
function runShipped(command: string, plugin: string, dir: string) {
  assert.ok(command.includes(PLUGIN_PATH) && command.includes(COLLECTOR_DIR));
  const local = command.split(PLUGIN_PATH).join(plugin).split(COLLECTOR_DIR).join(dir);
  return spawnSync('/bin/sh', ['-c', local], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${url}: no answer in 10 s`)));
  });
}

/** A port below the ephemeral range that nothing listens on now; another test may take it, hence the retries below. */
async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  for (let tries = 0; tries < 200; tries++) {
    const port = Math.max(1024, low - 3000) + Math.floor(Math.random() * 2000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found');
}

test('promtool check metrics accepts the output in every state, with --top 0 on a host of 300 tuples', { skip }, () => {
  const dir = scratchDir('cep-prom-lint');
  try {
    for (const [state, spec] of Object.entries(TREES)) {
      const r = runBundle(['--proc', writeProcTree(join(dir, state), spec), '--format', 'prometheus', '--top', '0']);
      assert.equal(r.status, STATES.indexOf(state), r.stdout);
      assert.equal(r.stderr, '');
      const samples = parseExposition(r.stdout);
      assert.equal(samples.find((s) => s.name === 'ephemeral_ports_check_state')?.value, STATES.indexOf(state));
      assert.equal(samples.filter((s) => s.name === 'ephemeral_ports_tuple_used').length, 301, '300 tcp tuples and the udp pool');
      const lint = promtool(['check', 'metrics'], r.stdout);
      assert.equal(lint.status, 0, `${state}: ${lint.stdout}${lint.stderr}`);
      assert.equal(lint.stdout + lint.stderr, '', state);
    }
    const failed = runBundle(['--proc', join(dir, 'no-such-dir'), '--format', 'prometheus', '--top', '0']);
    assert.equal(failed.status, 3);
    assert.match(failed.stdout, /^# check_ephemeral_ports UNKNOWN: .*no-such-dir.*\n/);
    assert.deepEqual(parseExposition(failed.stdout), [{ name: 'ephemeral_ports_check_state', labels: {}, value: 3 }]);
    const lint = promtool(['check', 'metrics'], failed.stdout);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.equal(lint.stdout + lint.stderr, '');
    // promtool does lint: without the HELP lines the same output is refused.
    const bare = failed.stdout.split('\n').filter((l) => !l.startsWith('# HELP')).join('\n');
    assert.notEqual(promtool(['check', 'metrics'], bare).status, 0);
  } finally {
    removeDir(dir);
  }
});

test('the icinga/README.md samples of --format prometheus are what the bundle prints', { skip: skipUnless(bundleMissing()) }, () => {
  const readme = readFileSync(join(ROOT, 'icinga', 'README.md'), 'utf8');
  const samples = [...readme.matchAll(/\n {4}\$ \.\/dist\/check_ephemeral_ports (.*--format prometheus.*)\n((?: {4}.*\n)+)/g)];
  assert.equal(samples.length, 2, 'a verdict and a failure');
  for (const [, args, shown] of samples) {
    const r = runBundle(args.split(' '));
    assert.equal(r.stdout, shown.split('\n').map((l) => l.slice(4)).join('\n'), args);
  }
});

test('promtool check rules accepts icinga/prometheus-rules.yaml, and refuses a broken copy', { skip }, () => {
  const r = promtool(['check', 'rules', RULES]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 8 rules found/);
  const dir = scratchDir('cep-prom-rules');
  try {
    writeFileSync(join(dir, 'broken.yaml'), readFileSync(RULES, 'utf8').replace('ephemeral_ports_check_state == 3', 'ephemeral_ports_check_state == == 3'));
    assert.notEqual(promtool(['check', 'rules', join(dir, 'broken.yaml')]).status, 0);
  } finally {
    removeDir(dir);
  }
});

test('systemd-analyze verify accepts the unit and the timer; the cron line and icinga/README.md have the same command', { skip }, () => {
  const r = spawnSync('systemd-analyze', ['verify', UNIT, TIMER], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout + r.stderr, '');
  assert.equal(cronCommand(), unitScript());
  assert.ok(readFileSync(join(ROOT, 'icinga', 'README.md'), 'utf8').includes(`\n    ${unitScript()}\n`), 'icinga/README.md shows the command as shipped');
});

describe('node_exporter serves what the shipped commands wrote', { skip: exporterSkip }, () => {
  let dir: string;
  let collector: string;
  let exporter: Daemon | undefined;
  let url: string;
  const file = () => join(collector, 'ephemeral_ports.prom');
  const trees: Record<string, string> = {};
  /** Scrapes kept for the rules: scenario → the series and when they were scraped. */
  const scrapes = new Map<string, { samples: Sample[]; at: number }>();

  async function scrape(scenario: string): Promise<Sample[]> {
    const at = Date.now() / 1000;
    const samples = parseExposition(await httpGet(url));
    scrapes.set(scenario, { samples: samples.filter((s) => /^(ephemeral_ports|node_textfile)_/.test(s.name)), at });
    return samples;
  }

  const value = (samples: readonly Sample[], name: string) => samples.find((s) => s.name === name)?.value;
  const mtimeOf = (samples: readonly Sample[]) => samples.find((s) => s.name === 'node_textfile_mtime_seconds' && s.labels.file === file())?.value;

  before(async () => {
    dir = scratchDir('cep-prom-exporter');
    collector = join(dir, 'textfile');
    spawnSync('install', ['-d', '-m', '0755', collector]);
    for (const [state, spec] of Object.entries(TREES)) trees[state] = writeProcTree(join(dir, state), spec);
    for (let attempt = 0; attempt < 3 && exporter === undefined; attempt++) {
      const port = await freePort();
      const d = new Daemon('setpriv', ['--reuid=prometheus', '--regid=prometheus', '--init-groups', EXPORTER,
        `--web.listen-address=127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${collector}`]);
      url = `http://127.0.0.1:${port}/metrics`;
      const up = await waitFor(`node_exporter on port ${port}`, 15_000, () => (!d.running ? false : /Listening on/.test(d.output) ? true : undefined));
      if (up) exporter = d;
      else await d.stop();
    }
    assert.ok(exporter, 'node_exporter did not start');
  });

  after(async () => {
    await exporter?.stop();
    removeDir(dir);
  });

  /** The command line as shipped, the plugin pointed at a frozen /proc. */
  const plugin = (state: keyof typeof TREES) => `${BUNDLE} --proc ${trees[state]}`;

  function assertServedAsJson(samples: readonly Sample[], proc: string, what: string): void {
    const json = runBundle(['--proc', proc, '--format', 'json', '--top', '0']);
    assertSameSeries(ours(samples), expectedFromJson(json.stdout, 5), what);
    assert.equal(value(samples, 'node_textfile_scrape_error'), 0, `${what}: node_textfile_scrape_error`);
    assert.ok(mtimeOf(samples), `${what}: node_textfile_mtime_seconds for ${file()}`);
  }

  test("the unit's ExecStart, run as written: the exporter serves the JSON's figures (WARNING)", async () => {
    const r = runShipped(unitScript(), plugin('WARNING'), collector);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(spawnSync('ls', ['-A', collector], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean), ['ephemeral_ports.prom'], 'the temporary file was renamed in');
    const samples = await scrape('WARNING');
    assertServedAsJson(samples, trees.WARNING, 'WARNING');
    assert.equal(value(samples, 'ephemeral_ports_check_state'), 1);
    console.log(`# served: ${[...ours(samples)].slice(0, 4).map(([k, v]) => `${k} ${v}`).join(', ')} ...`);
  });

  test('the cron line, run as written: CRITICAL and OK served as the JSON says', async () => {
    for (const state of ['CRITICAL', 'OK'] as const) {
      const r = runShipped(cronCommand(), plugin(state), collector);
      assert.equal(r.status, 0, r.stderr);
      const samples = await scrape(state);
      assertServedAsJson(samples, trees[state], state);
      assert.equal(value(samples, 'ephemeral_ports_check_state'), STATES.indexOf(state));
    }
  });

  test('a failing check: the file holds the UNKNOWN state alone, served without error', async () => {
    const r = runShipped(unitScript(), `${BUNDLE} --proc ${join(dir, 'no-such-dir')}`, collector);
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(file(), 'utf8'), /^# check_ephemeral_ports UNKNOWN: .*no-such-dir/);
    const samples = await scrape('UNKNOWN');
    assertSameSeries(ours(samples), new Map([['ephemeral_ports_check_state{}', 3]]), 'UNKNOWN');
    assert.equal(value(samples, 'node_textfile_scrape_error'), 0);
  });

  test('a stale file: the exporter keeps serving its old values; only the mtime tells', async () => {
    runShipped(unitScript(), plugin('WARNING'), collector);
    const fresh = ours(await scrape('fresh'));
    const then = Math.floor(Date.now() / 1000) - 3600;
    utimesSync(file(), then, then); // what a stopped timer leaves behind, an hour later
    const samples = await scrape('stale');
    assert.deepEqual(ours(samples), fresh);
    assert.equal(mtimeOf(samples), then);
    assert.equal(value(samples, 'node_textfile_scrape_error'), 0);
  });

  test('an empty file (the command could not start the plugin): no series, no error, a fresh mtime', async () => {
    const r = runShipped(unitScript(), join(dir, 'no-such-plugin'), collector);
    assert.equal(r.status, 0, 'sh ends with the mv, which succeeds');
    assert.match(r.stderr, /no-such-plugin/);
    assert.equal(readFileSync(file(), 'utf8'), '');
    const samples = await scrape('empty');
    assert.equal(ours(samples).size, 0);
    assert.ok(mtimeOf(samples));
    assert.equal(value(samples, 'node_textfile_scrape_error'), 0);
  });

  test('a file it refuses (here: our output with timestamps): dropped whole, mtime too, node_textfile_scrape_error 1', async () => {
    const stamped = runBundle(['--proc', trees.WARNING, '--format', 'prometheus']).stdout.replace(/^(ephemeral_ports_\S+ \S+)$/gm, '$1 1700000000000');
    assert.match(stamped, /^ephemeral_ports_check_state 1 1700000000000$/m);
    writeFileSync(file(), stamped);
    const samples = await scrape('broken');
    assert.equal(ours(samples).size, 0);
    assert.equal(mtimeOf(samples), undefined);
    assert.equal(value(samples, 'node_textfile_scrape_error'), 1);
  });

  test('promtool test rules: the rules, evaluated on those scrapes, fire exactly the alerts expected', () => {
    const base = { instance: 'node-1', job: 'node' };
    const alert = (alertname: string, severity: string, extra: Record<string, string> = {}) => ({ alertname, alertstate: 'firing', severity, ...base, ...extra });
    const ofFile = { file: file() };
    const expected: Record<string, Record<string, string>[]> = {
      OK: [],
      WARNING: [alert('EphemeralPortsUsageWarning', 'warning'), alert('EphemeralPortsCheckWarning', 'warning')],
      CRITICAL: [alert('EphemeralPortsUsageCritical', 'critical'), alert('EphemeralPortsCheckCritical', 'critical')],
      UNKNOWN: [alert('EphemeralPortsCheckUnknown', 'warning')],
      fresh: [alert('EphemeralPortsUsageWarning', 'warning'), alert('EphemeralPortsCheckWarning', 'warning')],
      stale: [alert('EphemeralPortsUsageWarning', 'warning'), alert('EphemeralPortsCheckWarning', 'warning'), alert('EphemeralPortsMetricsStale', 'warning', ofFile)],
      empty: [alert('EphemeralPortsMetricsMissing', 'warning', ofFile)],
      broken: [alert('NodeTextfileScrapeError', 'warning')],
    };
    assert.deepEqual([...scrapes.keys()].sort(), Object.keys(expected).sort(), 'every scenario was scraped');
    const evalSeconds = 600;
    const labelText = (labels: Record<string, string>) => `{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    const testFile = (expectations: Record<string, Record<string, string>[]>) => ({
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: Object.entries(expectations).map(([scenario, alerts]) => {
        const { samples, at } = scrapes.get(scenario) as { samples: Sample[]; at: number };
        return {
          name: scenario,
          interval: '1m',
          // Each scraped series held for 20 minutes; an mtime keeps its age as of the scrape
          // at the evaluation time (promtool's clock starts at 0).
          input_series: samples.map((s) => ({
            series: `${s.name}${labelText({ ...s.labels, ...base })}`,
            values: `${s.name === 'node_textfile_mtime_seconds' ? evalSeconds - (at - s.value) : s.value}+0x20`,
          })),
          promql_expr_test: [{
            expr: 'ALERTS{alertstate="firing"}',
            eval_time: `${evalSeconds}s`,
            exp_samples: alerts.map((labels) => ({ labels: `ALERTS${labelText(labels)}`, value: 1 })),
          }],
        };
      }),
    });
    const work = scratchDir('cep-prom-ruletest');
    try {
      // JSON is YAML: promtool reads it as it is.
      writeFileSync(join(work, 'scrapes.test.yaml'), JSON.stringify(testFile(expected), null, 1));
      const r = promtool(['test', 'rules', join(work, 'scrapes.test.yaml')]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /SUCCESS/);
      // And it can fail: expecting the fresh file's alerts of the stale one is refused.
      writeFileSync(join(work, 'wrong.test.yaml'), JSON.stringify(testFile({ stale: expected.fresh }), null, 1));
      const wrong = promtool(['test', 'rules', join(work, 'wrong.test.yaml')]);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stdout + wrong.stderr, /EphemeralPortsMetricsStale/);
    } finally {
      removeDir(work);
    }
  });
});
