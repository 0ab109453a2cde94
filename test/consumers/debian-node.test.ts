/**
 * The bundle under Debian's own Node.js (nodejs 18 on Debian 12, the one `apt install
 * nodejs` gives), unpacked by scripts/debian-node.sh from Debian's packages: found through
 * PATH by the bundle's `#!/usr/bin/env node` line, as a monitoring system would start it.
 * On a frozen /proc its output must be byte for byte the machine's Node's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, bundleMissing, runBundle, skipUnless } from '../helpers';
import { POOL_80, commandMissing, removeDir, scratchDir, writeProcTree } from './support';

/** Why Debian's node cannot run here: no apt, no nodejs 18 in its lists, or packages missing. */
function debianNodeUnavailable(): string | false {
  const tools = commandMissing('apt-get', 'apt-cache', 'dpkg', 'dpkg-query');
  if (tools) return tools;
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'debian-node.sh'), '--missing', '18'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return `scripts/debian-node.sh: ${(r.stderr || r.error?.message || '').trim()}`;
  const missing = r.stdout.trim().split('\n').filter(Boolean);
  return missing.length > 0 ? `Debian's node 18 needs ${missing.join(', ')} (see .ci/debian-packages)` : false;
}

const skip = skipUnless(bundleMissing() || debianNodeUnavailable());

describe("Debian's Node.js 18", { skip }, () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let proc: string;

  before(() => {
    dir = scratchDir('debian-node');
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'debian-node.sh'), join(dir, 'root'), '18'], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const [node, lib] = r.stdout.trim().split('\n');
    env = { ...process.env, PATH: `${join(node, '..')}:${process.env.PATH}`, LD_LIBRARY_PATH: lib };
    proc = writeProcTree(join(dir, 'proc-80'), POOL_80);
  });

  after(() => removeDir(dir));

  const run = (args: string[]) => runBundle(args, { env });

  test('the bundle\'s `env node` finds Node 18 from the Debian package', () => {
    const r = spawnSync('sh', ['-c', 'command -v node && node -p process.version'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const [path, version] = r.stdout.trim().split('\n');
    assert.equal(path, join(dir, 'root', 'usr', 'bin', 'node'));
    assert.match(version, /^v18\./);
    console.log(`# Debian node: ${version}`);
  });

  test('on a frozen /proc: the same exit code and output as under the machine\'s Node', () => {
    for (const args of [
      ['--proc', proc],
      ['--proc', proc, '-c', '75', '-vvv', '--top', '0', '--tuple-perfdata'],
      ['--proc', proc, '-w', '85', '-c', '95'],
      ['--proc', proc, '--format', 'json'],
    ]) {
      const old = run(args);
      const current = runBundle(args);
      assert.equal(old.stderr, '', args.join(' '));
      assert.equal(old.status, current.status, args.join(' '));
      assert.equal(old.stdout, current.stdout, args.join(' '));
    }
    const first = run(['--proc', proc]);
    assert.equal(first.status, 1);
    assert.match(first.stdout, /^EPHEMERAL PORTS WARNING - worst tcp 127\.0\.0\.1 -> 192\.0\.2\.10:5432: 80\/100 ports used/);
    assert.equal(JSON.parse(run(['--proc', proc, '--format', 'json']).stdout).status, 'WARNING');
    console.log(`# node 18, exit ${first.status}: ${first.stdout.split('\n')[0]}`);
  });

  test('on the live /proc, and for --help, --version and bad arguments: the Nagios contract', () => {
    const live = run([]);
    assert.ok([0, 1, 2].includes(live.status ?? -1), live.stdout + live.stderr);
    assert.match(live.stdout, /^EPHEMERAL PORTS (OK|WARNING|CRITICAL) - .*\n(.*\n)*\| worst_usage=\d+(\.\d+)?%;70;90;0;100 /);
    assert.equal(live.stderr, '');
    for (const args of [['--help'], ['--version'], ['--bogus'], ['-w', '2:1']]) {
      const r = run(args);
      assert.equal(r.status, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.equal(r.stderr, '');
    }
    assert.match(run(['--help']).stdout, /Usage: check_ephemeral_ports/);
    console.log(`# node 18 live /proc, exit ${live.status}: ${live.stdout.split('\n')[0]}`);
  });
});
