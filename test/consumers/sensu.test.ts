/**
 * Sensu Go: the asset that `npm run asset` builds (layout, SHA-512 in the definition),
 * the CheckConfigs in icinga/sensu-check.yaml run the way the agent runs them (sh -c with
 * the unpacked asset's bin/ on PATH), and every output read by a port of Sensu Go's
 * nagios_perfdata extraction (agent/transformers/nagios.go, ParseNagios) plus the stricter
 * rules that keep values intact there (docs/plugin-contract.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, ROOT, bundleMissing, runBundle, skipUnless } from '../helpers';
import { CHURN_175, POOL_80, commandMissing, removeDir, scratchDir, writeProcTree } from './support';

interface SensuMetric { name: string; value: number }

/**
 * What Sensu Go's agent extracts with output_metric_format nagios_perfdata: the output must
 * split into exactly two parts at `|`; the part after it is cut at spaces; per token, the
 * text before the first `;` must split at `=` into exactly two parts; spaces in the label
 * become `_`; every character but `-`, digits and `.` is dropped from the value, which must
 * then parse as a float. Tokens that fail are logged and skipped; no `|` means no metrics.
 */
function sensuNagiosPerfdata(output: string): { metrics: SensuMetric[]; errors: string[] } {
  const parts = output.split('|');
  if (parts.length !== 2) return { metrics: [], errors: [`${parts.length - 1} pipes: no metrics`] };
  const metrics: SensuMetric[] = [];
  const errors: string[] = [];
  for (const raw of parts[1].trim().split(' ')) {
    const token = raw.trim();
    if (token === '') continue;
    const pair = token.split(';')[0].split('=');
    if (pair.length !== 2) {
      errors.push(`invalid metric ${token}`);
      continue;
    }
    const digits = pair[1].replace(/[^-\d.]/g, '');
    const value = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(digits) ? Number(digits) : NaN;
    if (Number.isNaN(value)) {
      errors.push(`invalid value ${pair[1]}`);
      continue;
    }
    metrics.push({ name: pair[0].replace(/ /g, '_'), value });
  }
  return { metrics, errors };
}

/** Sensu's reading must equal the meaning: plain decimals, bare labels, nothing dropped. */
function assertSensuReadsIt(stdout: string, what: string): SensuMetric[] {
  const { metrics, errors } = sensuNagiosPerfdata(stdout);
  assert.deepEqual(errors, [], `${what}: ${stdout}`);
  const tokens = stdout.slice(stdout.indexOf('|') + 1).trim().split(' ');
  assert.equal(stdout.indexOf('|'), stdout.lastIndexOf('|'), `${what}: exactly one |`);
  assert.ok(!/\s\s/.test(stdout.slice(stdout.indexOf('|') + 1).trim()), `${what}: single spaces between values`);
  assert.equal(metrics.length, tokens.length, `${what}: every token is a metric`);
  tokens.forEach((token, i) => {
    const m = /^([a-z0-9_]+)=(-?\d+(?:\.\d+)?)(%?)(?:;[-\d.]*){0,4}$/.exec(token);
    assert.ok(m, `${what}: not label=decimal[%];warn;crit;min;max with plain decimals: ${token}`);
    assert.equal(metrics[i].name, m[1]);
    assert.equal(metrics[i].value, Number(m[2]), `${what}: ${token} read as ${metrics[i].value}`);
  });
  return metrics;
}

/** `key: value` lines of one YAML document section, enough for our own flat files. */
function yamlDocuments(text: string): string[] {
  return text.split(/^---$/m).slice(1);
}
const yamlValue = (doc: string, key: string) => new RegExp(`^\\s*${key}: (.*?)\\s*(#.*)?$`, 'm').exec(doc)?.[1];

test('the nagios_perfdata port behaves as Sensu Go does on the traps the plugin contract names', () => {
  assert.deepEqual(sensuNagiosPerfdata('OK - fine').metrics, [], 'no pipe: no metrics');
  assert.deepEqual(sensuNagiosPerfdata('OK | a=1 | b=2').metrics, [], 'two pipes: no metrics');
  assert.deepEqual(sensuNagiosPerfdata('OK | big=1e21;2;3').metrics, [{ name: 'big', value: 121 }], 'exponent form is mangled');
  assert.deepEqual(sensuNagiosPerfdata("OK | 'a b'=5%;80;90").metrics, [{ name: "b'", value: 5 }], 'a quoted label with a space is torn apart');
  assert.deepEqual(sensuNagiosPerfdata('OK | used=5ports;80;90 pct=7.5%').metrics, [{ name: 'used', value: 5 }, { name: 'pct', value: 7.5 }], 'units are stripped');
  assert.deepEqual(sensuNagiosPerfdata('OK | x=U').metrics, [], 'U is not a number');
});

describe('Sensu Go', { skip: skipUnless(bundleMissing() || commandMissing('tar', 'sh')) }, () => {
  let dir: string;
  let archive: string;
  let sha512: string;
  let definition: string;

  before(() => {
    dir = scratchDir('sensu');
    copyFileSync(join(ROOT, 'icinga', 'sensu-asset.yaml'), join(dir, 'asset.yaml'));
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'sensu-asset.mjs'), '--out', join(dir, 'out'), '--definition', join(dir, 'asset.yaml'),
      '--url', 'https://assets.example.com/test', '--bundle', BUNDLE], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const files = readdirSync(join(dir, 'out'));
    assert.equal(files.length, 1);
    archive = join(dir, 'out', files[0]);
    sha512 = /^sha512 ([0-9a-f]{128})$/m.exec(r.stdout)?.[1] ?? '';
    definition = readFileSync(join(dir, 'asset.yaml'), 'utf8');
    console.log(`# ${r.stdout.trim().split('\n').join(' | ')}`);
  });

  after(() => removeDir(dir));

  test('the asset is a tar.gz with bin/check_ephemeral_ports (the committed bundle, executable) and nothing else', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(archive.split('/').pop(), `check_ephemeral_ports-${version}-linux.tar.gz`);
    assert.deepEqual([...readFileSync(archive).subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
    const list = spawnSync('tar', ['-tzvf', archive], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const entries = list.stdout.trim().split('\n').map((l) => { const f = l.split(/\s+/); return `${f[0]} ${f[f.length - 1]}`; });
    assert.deepEqual(entries, ['drwxr-xr-x bin/', '-rwxr-xr-x bin/check_ephemeral_ports']);
    const x = spawnSync('tar', ['-xzf', archive, '-C', dir]);
    assert.equal(x.status, 0);
    assert.deepEqual(readFileSync(join(dir, 'bin', 'check_ephemeral_ports')), readFileSync(BUNDLE));
    assert.ok(statSync(join(dir, 'bin', 'check_ephemeral_ports')).mode & 0o100);
  });

  test('the SHA-512 printed and written into the Asset definition is the tarball\'s', () => {
    const actual = createHash('sha512').update(readFileSync(archive)).digest('hex');
    assert.equal(sha512, actual);
    const [doc] = yamlDocuments(definition);
    assert.equal(yamlValue(doc, 'type'), 'Asset');
    assert.equal(yamlValue(doc, 'sha512'), actual);
    assert.equal(yamlValue(doc, '- url'), `https://assets.example.com/test/${archive.split('/').pop()}`);
  });

  test('the same bundle gives the same tarball: the SHA-512 is reproducible', () => {
    const again = spawnSync(process.execPath, [join(ROOT, 'scripts', 'sensu-asset.mjs'), '--out', join(dir, 'again'), '--definition', join(dir, 'asset.yaml'), '--bundle', BUNDLE], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^sha512 ${sha512}$`, 'm'));
  });

  test('the committed definition names the asset the checks use and carries a SHA-512', () => {
    const [asset] = yamlDocuments(readFileSync(join(ROOT, 'icinga', 'sensu-asset.yaml'), 'utf8'));
    // `npm run build` rewrites it, so it can only be stale if someone skipped the build.
    assert.equal(yamlValue(asset, 'sha512'), sha512, 'icinga/sensu-asset.yaml is stale: run npm run build');
    const name = yamlValue(asset, 'name');
    for (const check of yamlDocuments(readFileSync(join(ROOT, 'icinga', 'sensu-check.yaml'), 'utf8'))) {
      assert.equal(yamlValue(check, 'type'), 'CheckConfig');
      assert.equal(yamlValue(check, 'output_metric_format'), 'nagios_perfdata');
      assert.match(check, new RegExp(`runtime_assets:\\n(\\s+#.*\\n)*\\s+- ${name}\\n`));
      assert.ok(Number(yamlValue(check, 'timeout')) > 8, 'longer than the plugin\'s own 8 s');
    }
  });

  test('each CheckConfig command, run as the agent runs it, gives output Sensu turns into metrics', () => {
    const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
    for (const check of yamlDocuments(readFileSync(join(ROOT, 'icinga', 'sensu-check.yaml'), 'utf8'))) {
      const command = yamlValue(check, 'command')!;
      const which = spawnSync('sh', ['-c', `command -v ${command.split(' ')[0]}`], { encoding: 'utf8', env });
      assert.equal(which.stdout.trim(), join(dir, 'bin', 'check_ephemeral_ports'), 'the asset\'s bin/ is what the agent finds');
      const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
      // --namespaces on a busy machine may leave a namespace unread within -t: UNKNOWN, with metrics still.
      const states = command.includes('--namespaces') ? [0, 1, 2, 3] : [0, 1, 2];
      assert.ok(states.includes(r.status ?? -1), `${command}: exit ${r.status} ${r.stdout}${r.stderr}`);
      const metrics = assertSensuReadsIt(r.stdout, command);
      assert.ok(metrics.some((m) => m.name === 'worst_usage'));
      console.log(`# sensu: ${command} -> exit ${r.status}, ${metrics.length} metrics`);
    }
  });

  test('outputs in every state and with every perfdata option pass the nagios_perfdata rules', () => {
    const proc = writeProcTree(join(dir, 'proc-80'), POOL_80);
    const runs: Array<[string[], number]> = [
      [['--proc', proc], 1],
      [['--proc', proc, '-c', '75'], 2],
      [['--proc', proc, '-w', '85', '-c', '95', '-vvv', '--top', '0', '--tuple-perfdata'], 0],
      [['--proc', proc, '--tcp', '--remote', '192.0.2.0/24', '--tuple-perfdata', '--warning-remaining', '30', '--critical-remaining', '10'], 1],
      [['--udp'], -1],
      [['-w', '@0:100'], 1],
      [['--proc', writeProcTree(join(dir, 'proc-churn'), CHURN_175), '--warning-churn', '3', '--critical-churn', '2'], 2],
    ];
    for (const [args, state] of runs) {
      const r = runBundle(args);
      if (state >= 0) assert.equal(r.status, state, `${args.join(' ')}: ${r.stdout}`);
      const metrics = assertSensuReadsIt(r.stdout, args.join(' '));
      if (args.includes('--tuple-perfdata') && args.includes(proc)) assert.ok(metrics.some((m) => /^t_[0-9a-f]{8}_192_0_2_10_5432$/.test(m.name) && m.value === 80));
      if (args.includes('--critical-churn')) assert.ok(metrics.some((m) => m.name === 'worst_churn_headroom' && m.value === 1.75), JSON.stringify(metrics));
    }
    // UNKNOWN (bad arguments, unreadable /proc) carries no perfdata: Sensu logs "no metrics", nothing wrong is stored.
    const unknown = runBundle(['--proc', join(dir, 'missing')]);
    assert.equal(unknown.status, 3);
    assert.equal(sensuNagiosPerfdata(unknown.stdout).metrics.length, 0);
  });
});
