/**
 * `npm run package` (scripts/package.sh): the .deb and the RPM, built once into a scratch
 * directory (twice for the reproducibility test), linted by lintian and rpmlint, the RPM
 * installed into a scratch root, and the .deb installed on this machine with apt-get, where
 * the real consumers use what it installed: Icinga 2 (`include <ephemeral_ports>`), Nagios
 * Core 4 (the command in /etc/nagios-plugins/config), NRPE (the snippet in
 * /etc/nagios/nrpe.d), the Zabbix agent (its conf.d file), systemd-analyze (the units), man
 * (the page); then `apt-get remove` must leave only the conffiles, and purge nothing.
 *
 * Every daemon runs from a private configuration and is stopped by the test (see
 * icinga2.ts, nagios.ts, nrpe.ts); the package starts and enables nothing itself.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, ROOT, runBundle, skipUnless, stageForOtherUser, type Staged } from '../helpers';
import { IcingaDaemon, makeLayout, validate } from './icinga2';
import { NAGIOS4, NagiosCore } from './nagios';
import { Nrpe, NRPE, freePort, nrpePrerequisites } from './nrpe';
import { commandMissing, removeDir, scratchDir, splitNagiosOutput } from './support';
import { ZABBIX_AGENTD, agentTest } from './zabbix';

const PACKAGE = 'check-ephemeral-ports';
const PLUGIN = '/usr/lib/nagios/plugins/check_ephemeral_ports';
const FIXTURE = 'db-client-tw-reuse-0'; // worst tuple 74.5 % used: WARNING with the defaults
const CONFFILES = [
  '/etc/nagios-plugins/config/check_ephemeral_ports.cfg',
  '/etc/nagios/nrpe.d/check_ephemeral_ports.cfg',
  '/etc/zabbix/zabbix_agentd.conf.d/check_ephemeral_ports.conf',
];

const tools = () => commandMissing('dpkg-deb', 'lintian', 'rpmbuild', 'rpm', 'rpmlint', 'apt-get', 'man', 'systemd-analyze', 'icinga2', 'visudo', ZABBIX_AGENTD) ||
  (existsSync(NAGIOS4) ? false : 'nagios4-core is not installed') || nrpePrerequisites();
/** A plugin at the package's path that no package owns is somebody's manual install: leave it alone. */
const foreignPlugin = () => existsSync(PLUGIN) && spawnSync('dpkg', ['-S', PLUGIN]).status !== 0 ? `${PLUGIN} exists and no package owns it (a manual install): the test would replace it` : false;
const skip = skipUnless(tools() || (process.getuid?.() !== 0 && 'needs root to install the package') || foreignPlugin());

function run(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 300_000, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The same, without blocking: what can run while the installed package is tested. */
function runAsync(command: string, args: readonly string[]): Promise<ReturnType<typeof run>> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (status) => resolve({ status, stdout, stderr, output: `${stdout}${stderr}` }));
    child.on('error', (e) => resolve({ status: null, stdout, stderr: String(e), output: String(e) }));
  });
}

function built(r: ReturnType<typeof run>): { deb: string; rpm: string } {
  assert.equal(r.status, 0, r.output);
  const [deb, rpm] = r.stdout.trim().split('\n');
  assert.match(deb, /\/check-ephemeral-ports_\d+\.\d+\.\d+_all\.deb$/);
  assert.match(rpm, /\/nagios-plugins-ephemeral-ports-\d+\.\d+\.\d+-1\.noarch\.rpm$/);
  return { deb, rpm };
}

const packageScript = (out: string) => ['bash', [join(ROOT, 'scripts', 'package.sh'), out]] as const;

const APT = ['-o', 'DPkg::Lock::Timeout=600', '-y', '-q'];
const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const dpkgStatus = () => run('dpkg-query', ['-W', '-f=${db:Status-Abbrev}', PACKAGE]).stdout.trim();

describe('npm run package', { skip }, () => {
  let out: string;
  let deb: string;
  let rpm: string;
  const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;

  // Started in before(), awaited by their tests: they run while the package is installed and used.
  let secondBuild: Promise<ReturnType<typeof run>>;
  let lintian: Promise<ReturnType<typeof run>>;

  before(() => {
    out = scratchDir('package');
    ({ deb, rpm } = built(run(...packageScript(join(out, 'first')))));
    secondBuild = runAsync(...packageScript(join(out, 'second')));
    // Every level shown, info, pedantic and experimental included, so that the override is seen in use.
    lintian = runAsync('lintian', ['--fail-on', 'error,warning', '--display-info', '--display-experimental', '--pedantic', '--show-overrides', deb]);
  });

  after(async () => {
    await Promise.all([secondBuild, lintian]);
    removeDir(out);
  });

  describe('installed with apt-get on this machine', () => {
    let stage: Staged;
    let fixture: string;

    before(() => {
      assert.notEqual(dpkgStatus(), 'ii', `${PACKAGE} is installed already: remove it first`);
      assert.equal(foreignPlugin(), false);
      stage = stageForOtherUser('package-run', [FIXTURE]);
      fixture = stage.fixture(FIXTURE);
      const r = run('apt-get', [...APT, 'install', '--no-install-recommends', deb], { env: aptEnv });
      assert.equal(r.status, 0, r.output);
      assert.equal(dpkgStatus(), 'ii');
    });

    after(() => {
      if (dpkgStatus() !== '') run('apt-get', [...APT, 'purge', PACKAGE], { env: aptEnv });
      stage?.remove();
    });

    test('the installed plugin prints what the committed bundle prints', () => {
      const args = ['--proc', fixture, '-v'];
      const installed = run(PLUGIN, args, { timeout: 30_000 });
      const direct = runBundle(args);
      assert.equal(installed.status, direct.status);
      assert.equal(installed.stdout, direct.stdout);
    });

    test('Icinga 2: `include <ephemeral_ports>` validates and the daemon runs both installed CheckCommands', async () => {
      const dir = scratchDir('package-icinga');
      let icinga: IcingaDaemon | undefined;
      try {
        // PluginDir is the test's own (makeLayout): the plugin there is a link to the installed one.
        const layout = makeLayout(dir, { check_ephemeral_ports: PLUGIN }, { zones: false, extra: `include <ephemeral_ports>\n${IcingaDaemon.runtimeObjects(dir)}` });
        const services = {
          warning: `vars.ephemeral_ports_proc = ${JSON.stringify(fixture)}`,
          critical: `vars.ephemeral_ports_proc = ${JSON.stringify(fixture)}\n  vars.ephemeral_ports_critical = 60\n  vars.ephemeral_ports_warning = 50`,
          ok: `vars.ephemeral_ports_proc = ${JSON.stringify(fixture)}\n  vars.ephemeral_ports_warning = 80\n  vars.ephemeral_ports_tcp = true\n  vars.ephemeral_ports_remote = [ "127.0.0.0/8" ]`,
          unknown: `vars.ephemeral_ports_proc = ${JSON.stringify(join(fixture, 'missing'))}`,
        };
        const objects = ['object Host "pkg" { check_command = "dummy"; enable_active_checks = false }',
          ...Object.entries(services).map(([name, vars]) => `object Service "${name}" {\n  host_name = "pkg"\n  check_command = "ephemeral_ports"\n  check_interval = 5m\n  ${vars}\n}`),
          // The sudo variant compiles from the same include (it needs a sudo rule to run).
          'object Service "sudo" {\n  host_name = "pkg"\n  check_command = "ephemeral_ports_sudo"\n  enable_active_checks = false\n}'];
        writeFileSync(join(layout.masterZoneDir, 'services.conf'), `${objects.join('\n')}\n`);
        const v = validate(layout);
        assert.equal(v.status, 0, v.output);
        icinga = new IcingaDaemon(layout);
        const names = Object.keys(services).map((n) => `pkg!${n}`);
        await icinga.forceChecks(names);
        await icinga.waitForResults(names);
        await icinga.stop();
        const stored = icinga.storedResults();
        const expected = { ok: 0, warning: 1, critical: 2, unknown: 3 };
        for (const [name, state] of Object.entries(expected)) {
          const r = stored.get(`pkg!${name}`);
          assert.ok(r, `no result for ${name}`);
          assert.equal(r.state, state, `${name}: ${r.output}`);
          const direct = splitNagiosOutput(runBundle(r.command.slice(1)).stdout);
          assert.equal(r.output.trimEnd(), direct.text.trimEnd());
          assert.deepEqual(r.performance_data, direct.perfdata);
        }
        assert.deepEqual(stored.get('pkg!ok')!.command.slice(1), ['--critical', '90', '--proc', fixture, '--remote', '127.0.0.0/8', '--tcp', '--warning', '80']);
      } finally {
        await icinga?.stop();
        removeDir(dir);
      }
    });

    test('Nagios Core 4: Debian\'s own nagios.cfg loads the installed command, and a daemon runs it in every state', async () => {
      // /etc/nagios4/nagios.cfg reads /etc/nagios-plugins/config: one command more than without the package.
      const system = run(NAGIOS4, ['-v', '/etc/nagios4/nagios.cfg']);
      assert.equal(system.status, 0, system.output);
      assert.match(readFileSync('/etc/nagios4/nagios.cfg', 'utf8'), /^cfg_dir=\/etc\/nagios-plugins\/config$/m);
      const dir = scratchDir('package-nagios');
      const nagios = new NagiosCore(dir, '/usr/lib/nagios/plugins');
      try {
        nagios.addObjects('installed', readFileSync(CONFFILES[0], 'utf8'));
        const services: Array<[string, string, number]> = [
          ['OK', `-w 80 -c 90 --proc ${fixture}`, 0],
          ['WARNING', `--proc ${fixture}`, 1],
          ['CRITICAL', `-w 50 -c 60 --proc ${fixture}`, 2],
          ['UNKNOWN', `--proc ${join(fixture, 'missing')}`, 3],
        ];
        nagios.addObjects('services', [
          'define host {\n    use generic-host\n    host_name localhost\n    address 127.0.0.1\n}',
          ...services.map(([name, args]) => `define service {\n    use generic-service\n    host_name localhost\n    service_description ${name}\n    check_command check_ephemeral_ports!${args}\n}`),
        ].join('\n'));
        const v = nagios.verify();
        assert.equal(v.status, 0, v.output);
        assert.match(v.output, /Total Warnings: 0/);
        await nagios.start();
        await nagios.forceChecks(['localhost']);
        await nagios.waitForResults(services.map(([name]) => `localhost;${name}`));
        const status = nagios.statusResults();
        for (const [name, args, state] of services) {
          const r = status.get(`localhost;${name}`)!;
          const direct = runBundle(args.split(' '));
          assert.equal(r.state, state, `${name}: ${r.pluginOutput}`);
          assert.equal(r.pluginOutput, splitNagiosOutput(direct.stdout).firstLine.split('|')[0].trim());
        }
      } finally {
        await nagios.stop();
        removeDir(dir);
      }
    });

    test('NRPE: the installed snippet, included as Debian\'s nrpe.cfg does, runs the installed plugin as nagios', async () => {
      const dir = scratchDir('package-nrpe');
      const snippet = readFileSync(CONFFILES[1], 'utf8');
      const fixed = /^command\[check_ephemeral_ports\]=(\S+) (.*)$/m.exec(snippet);
      assert.ok(fixed, 'the snippet has check_ephemeral_ports');
      assert.equal(fixed[1], PLUGIN);
      assert.match(readFileSync('/etc/nagios/nrpe.cfg', 'utf8'), /^include_dir=\/etc\/nagios\/nrpe\.d\/?$/m);
      // The installed file itself, plus the same command on the frozen tree.
      writeFileSync(join(dir, 'test.cfg'), `include=${CONFFILES[1]}\ncommand[pkg_frozen]=${fixed[1]} ${fixed[2]} --proc ${fixture}\n`);
      const nrpe = new Nrpe(dir, 'nrpe-package', NRPE, await freePort(), true, { dontBlame: false, snippet: join(dir, 'test.cfg') });
      try {
        await nrpe.start();
        const frozen = nrpe.check('pkg_frozen');
        const direct = runBundle([...fixed[2].split(' '), '--proc', fixture]);
        assert.equal(frozen.status, 1);
        assert.equal(frozen.status, direct.status);
        assert.equal(frozen.stdout, direct.stdout);
        const live = nrpe.check('check_ephemeral_ports');
        assert.match(live.stdout, /^EPHEMERAL PORTS (OK|WARNING|CRITICAL) - /, live.stdout);
      } finally {
        await nrpe.stop();
        removeDir(dir);
      }
    });

    test('Zabbix agent: Debian\'s zabbix_agentd.conf includes the installed file; its key gives the installed plugin\'s JSON', () => {
      assert.match(readFileSync('/etc/zabbix/zabbix_agentd.conf', 'utf8'), /^Include=\/etc\/zabbix\/zabbix_agentd\.conf\.d\/\*\.conf$/m);
      const got = agentTest('/etc/zabbix/zabbix_agentd.conf', 'ephemeral_ports.json', 'zabbix');
      const json = JSON.parse(got.value);
      assert.ok(['OK', 'WARNING', 'CRITICAL'].includes(json.status), got.value.slice(0, 300));
      assert.ok(json.tuples.length >= 1);
    });

    test('systemd: the units pass systemd-analyze verify and are neither enabled nor running', () => {
      const units = ['/lib/systemd/system/ephemeral-ports-textfile.service', '/lib/systemd/system/ephemeral-ports-textfile.timer'];
      const r = run('systemd-analyze', ['verify', ...units]);
      assert.equal(r.status, 0, r.output);
      for (const unit of ['ephemeral-ports-textfile.service', 'ephemeral-ports-textfile.timer']) {
        // is-enabled reads the unit files' links, with or without a running systemd.
        const e = run('systemctl', ['is-enabled', unit]);
        assert.match(e.stdout.trim(), /^(disabled|static)$/, `${unit}: ${e.output}`);
      }
      assert.ok(!readdirSync('/etc/systemd/system', { recursive: true }).some((f) => String(f).includes('ephemeral-ports')), 'no unit link in /etc/systemd/system');
    });

    test('man check_ephemeral_ports shows the page, with every option of --help', () => {
      const r = run('man', ['check_ephemeral_ports'], { env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '200', LC_ALL: 'C.UTF-8' } });
      assert.equal(r.status, 0, r.output);
      const page = r.stdout.replace(/.\x08/g, '');
      assert.match(page, /^NAME\n\s+check_ephemeral_ports - /m);
      const help = runBundle(['--help']).stdout;
      const options = [...help.matchAll(/^ {2}(-\S.*?) {2,}\S/gm)].map((m) => m[1].trim());
      assert.ok(options.length >= 20);
      for (const o of options) assert.ok(page.includes(o), `the page lacks ${o}`);
    });

    test('sudo: the rules come inert (not in /etc/sudoers.d) and pass visudo as shipped', () => {
      const owned = run('dpkg', ['-L', PACKAGE]).stdout.split('\n');
      assert.ok(!owned.some((f) => f.startsWith('/etc/sudoers')), 'no file under /etc/sudoers.d');
      assert.ok(owned.includes('/usr/share/check-ephemeral-ports/sudoers'));
      const r = run('visudo', ['-cf', '/usr/share/check-ephemeral-ports/sudoers']);
      assert.equal(r.status, 0, r.output);
    });

    test('apt-get remove leaves only the conffiles; purge removes them too', () => {
      const owned = run('dpkg', ['-L', PACKAGE]).stdout.split('\n').filter((f) => f !== '' && existsSync(f) && !readdirSafe(f));
      assert.ok(owned.includes(PLUGIN));
      const r = run('apt-get', [...APT, 'remove', PACKAGE], { env: aptEnv });
      assert.equal(r.status, 0, r.output);
      assert.equal(dpkgStatus(), 'rc');
      assert.deepEqual(owned.filter((f) => existsSync(f)).sort(), [...CONFFILES].sort());
      const p = run('dpkg', ['--purge', PACKAGE]);
      assert.equal(p.status, 0, p.output);
      assert.equal(dpkgStatus(), '');
      assert.deepEqual(owned.filter((f) => existsSync(f)), []);
    });
  });

  test('two builds give the same .deb and the same RPM, byte for byte', async () => {
    const second = built(await secondBuild);
    assert.ok(readFileSync(deb).equals(readFileSync(second.deb)), 'the .deb differs');
    assert.ok(readFileSync(rpm).equals(readFileSync(second.rpm)), 'the RPM differs');
  });

  test('the .deb: control fields, the plugin with Debian\'s node as interpreter, conffiles, every date the last commit\'s', () => {
    const field = (name: string) => run('dpkg-deb', ['-f', deb, name]).stdout.trim();
    assert.equal(field('Package'), PACKAGE);
    assert.equal(field('Version'), version);
    assert.equal(field('Architecture'), 'all');
    assert.equal(field('Section'), 'net');
    assert.equal(field('Depends'), 'nodejs (>= 18), iproute2');
    const x = join(out, 'x');
    assert.equal(run('dpkg-deb', ['-R', deb, x]).status, 0);
    const plugin = readFileSync(join(x, PLUGIN), 'utf8');
    const bundle = readFileSync(BUNDLE, 'utf8');
    // Debian's nodejs installs /usr/bin/node (dpkg -c of nodejs 18 in Debian 12).
    assert.equal(plugin.split('\n')[0], '#!/usr/bin/node');
    assert.equal(plugin.slice(plugin.indexOf('\n')), bundle.slice(bundle.indexOf('\n')), 'the rest is the committed bundle');
    assert.deepEqual(readFileSync(join(x, 'DEBIAN', 'conffiles'), 'utf8').trim().split('\n').sort(), [...CONFFILES].sort());
    const listing = run('dpkg-deb', ['-c', deb], { env: { ...process.env, TZ: 'UTC' } }).stdout.trim().split('\n');
    const commit = run('git', ['-C', ROOT, 'log', '-1', '--format=%cd', '--date=format-local:%Y-%m-%d %H:%M'], { env: { ...process.env, TZ: 'UTC' } }).stdout.trim();
    for (const line of listing) assert.ok(line.includes(` ${commit} `) && / root\/root /.test(line), line);
    assert.ok(!listing.some((l) => l.includes('sudoers.d')), 'no live sudo rule');
  });

  test('Debian\'s own nodejs package installs /usr/bin/node, the interpreter the packaged plugin names', () => {
    // The newest nodejs an apt source offers from Debian (not a locally installed build of another vendor).
    const versions = run('apt-cache', ['madison', 'nodejs']).stdout.split('\n').map((l) => l.split('|').map((f) => f.trim()))
      .filter((f) => f.length >= 3 && !f[1].includes('nodesource') && !f[2].includes('dpkg/status')).map((f) => f[1]);
    assert.ok(versions.length > 0, 'no nodejs in the apt sources (apt-get update)');
    const newest = versions.sort((a, b) => (run('dpkg', ['--compare-versions', a, 'gt', b]).status === 0 ? -1 : 1))[0];
    const dir = join(out, 'nodejs');
    mkdirSync(dir);
    const d = spawnSync('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', 'download', `nodejs=${newest}`], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(d.status, 0, `${d.stdout}${d.stderr}`);
    const debs = readdirSync(dir).filter((f) => f.endsWith('.deb'));
    assert.equal(debs.length, 1);
    const files = run('dpkg-deb', ['-c', join(dir, debs[0])]).stdout;
    assert.match(files, /^-rwxr-xr-x root\/root .* \.\/usr\/bin\/node$/m, `nodejs ${newest}`);
  });

  test('lintian: no error and no warning; the one override (executable-in-usr-lib, pedantic and experimental) is used', async () => {
    const r = await lintian;
    assert.equal(r.status, 0, r.output);
    assert.ok(!/^[EW]: /m.test(r.stdout), r.stdout);
    assert.ok(!/unused-override|mismatched-override/.test(r.stdout), r.stdout);
    assert.match(r.stdout, /^O: check-ephemeral-ports: executable-in-usr-lib \[usr\/lib\/nagios\/plugins\/check_ephemeral_ports\]$/m);
  });

  test('the RPM: requirements, %config(noreplace) under /etc, rpmlint without error, and the plugin runs from a scratch root', () => {
    const q = (...args: string[]) => run('rpm', ['-qp', ...args, rpm]).stdout;
    assert.deepEqual(q('--requires').split('\n').filter((l) => l && !l.startsWith('rpmlib(')).sort(), ['iproute', 'nodejs >= 18']);
    const flags = q('--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]').trim().split('\n').map((l) => l.split(' '));
    const etc = flags.filter(([, f]) => f.startsWith('/etc/'));
    assert.deepEqual(etc.map(([, f]) => f).sort(), ['/etc/nagios/conf.d/check_ephemeral_ports.cfg', '/etc/nrpe.d/check_ephemeral_ports.cfg', '/etc/zabbix/zabbix_agentd.d/check_ephemeral_ports.conf']);
    for (const [flag, f] of etc) assert.equal(flag, 'cn', `${f}: %config(noreplace)`);
    const lint = run('rpmlint', ['-r', join(ROOT, 'packaging', 'rpm', 'check_ephemeral_ports.rpmlintrc'), rpm]);
    assert.match(lint.stdout, / 0 errors, /, lint.output);

    const root = join(out, 'rpmroot');
    const i = run('rpm', ['--root', root, '--nodeps', '-i', rpm]);
    assert.equal(i.status, 0, i.output);
    const plugin = join(root, 'usr/lib64/nagios/plugins/check_ephemeral_ports');
    assert.equal(readFileSync(plugin, 'utf8').split('\n')[0], '#!/usr/bin/node');
    const args = ['--proc', join(ROOT, 'test', 'fixtures', FIXTURE)];
    const installed = run(plugin, args, { timeout: 30_000 });
    const direct = runBundle(args);
    assert.equal(installed.status, 1);
    assert.deepEqual(installed, { ...direct, output: `${direct.stdout}${direct.stderr}` });
    for (const f of ['etc/nrpe.d/check_ephemeral_ports.cfg', 'etc/zabbix/zabbix_agentd.d/check_ephemeral_ports.conf', 'usr/lib/systemd/system/ephemeral-ports-textfile.service']) {
      const text = readFileSync(join(root, f), 'utf8');
      assert.ok(text.includes('/usr/lib64/nagios/plugins/check_ephemeral_ports') && !text.includes('/usr/lib/nagios/'), `${f} names the RHEL plugin path only`);
    }
  });

});

/** True for a directory (dpkg -L lists them too; shared ones stay). */
function readdirSafe(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}
