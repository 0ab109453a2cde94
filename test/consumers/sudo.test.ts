/**
 * The root recipes of icinga/: icinga/sudoers, the NRPE command check_ephemeral_ports_sudo
 * and the Icinga 2 CheckCommand "ephemeral_ports_sudo", on Debian's sudo, NRPE and Icinga 2.
 * The daemons run as a throwaway unprivileged user (in place of nagios) that the shipped
 * sudoers rules name; sudo's own log shows what it ran as root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, runBundle, skipUnless } from '../helpers';
import { SUDO, SudoUser, sudoUnavailable } from '../sudo';
import { ICINGA2, IcingaDaemon, makeLayout, validate } from './icinga2';
import { NRPE, Nrpe, freePort, nrpePrerequisites, SHIPPED_PATH, snippetFor, stateWord } from './nrpe';
import { commandMissing, removeDir, scratchDir, splitNagiosOutput } from './support';

const SUDOERS = join(ROOT, 'icinga', 'sudoers');
const CONF = join(ROOT, 'icinga', 'ephemeral_ports.conf');
const SUDO_CONF = join(ROOT, 'icinga', 'ephemeral_ports_sudo.conf');

/** The shipped rules: the argument lists sudo allows for the plugin. */
function shippedRules(): string[] {
  return readFileSync(SUDOERS, 'utf8').split('\n').filter((l) => l.startsWith('nagios ')).map((l) => {
    const m = /^nagios ALL=\(root\) NOPASSWD: (\S+) (.*)$/.exec(l);
    assert.ok(m, `not a fixed-command rule: ${l}`);
    assert.equal(m[1], SHIPPED_PATH);
    return m[2];
  });
}

describe('the shipped root recipes (static)', () => {
  test('icinga/sudoers passes visudo, and every rule fixes the program and its arguments', { skip: skipUnless(commandMissing('visudo')) }, () => {
    const r = spawnSync('visudo', ['-cf', SUDOERS], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const rules = shippedRules();
    assert.equal(rules.length, 8);
    for (const args of rules) assert.doesNotMatch(args.replace(/\{1\\,16\}/g, ''), /\*|\.\*|\\\*|ALL/, `no wildcard: ${args}`);
  });

  for (const command of ['check_ephemeral_ports_sudo', 'check_ephemeral_ports_containers', 'check_ephemeral_ports_nat', 'check_ephemeral_ports_failures']) {
    test(`the NRPE command ${command} passes exactly the arguments of a rule`, () => {
      const line = new RegExp(`^command\\[${command}\\]=(.*)$`, 'm').exec(readFileSync(join(ROOT, 'icinga', 'nrpe.cfg'), 'utf8'))?.[1];
      assert.ok(line);
      assert.ok(line.startsWith(`${SUDO} -n ${SHIPPED_PATH} `), line);
      assert.ok(shippedRules().includes(line.slice(`${SUDO} -n ${SHIPPED_PATH} `.length)), line);
    });
  }

  test('the Icinga CheckCommand is the plain one behind sudo -n', () => {
    const conf = readFileSync(SUDO_CONF, 'utf8');
    assert.match(conf, /object CheckCommand "ephemeral_ports_sudo" \{\n\timport "ephemeral_ports"\n/);
    assert.match(conf, /command = \[ "\/usr\/bin\/sudo", "-n", PluginDir \+ "\/check_ephemeral_ports" \]/);
  });
});

describe('sudo, NRPE and Icinga 2 running the plugin as root', { skip: skipUnless(sudoUnavailable() || nrpePrerequisites() || commandMissing(ICINGA2)) }, () => {
  let user: SudoUser;
  let plugin = '';
  let log = '';
  let dir = '';

  before(() => {
    user = new SudoUser('sudo');
    dir = scratchDir('cep-sudo-consumers');
    plugin = user.stagePlugin('plugins/check_ephemeral_ports');
    log = join(user.stage, 'sudo.log');
    const rules = readFileSync(SUDOERS, 'utf8').split(SHIPPED_PATH).join(plugin).replace(/^nagios /gm, `${user.name} `);
    // sudo's own record of what it ran, and as whom.
    user.allow(`Defaults:${user.name} logfile=${log}\n${rules}`);
  });

  after(() => {
    user?.remove();
    removeDir(dir);
  });

  /** What sudo ran as root for the user, in order: the argument lists. */
  const ranAsRoot = (): string[] => {
    if (!existsSync(log)) return [];
    // An allowed run is logged as `NAME : [TTY=... ;] PWD=... ; USER=root ; COMMAND=...`; a
    // refused one has its reason after the name.
    const lines = readFileSync(log, 'utf8').replace(/\n {4}/g, ' ').split('\n');
    return lines.filter((l) => new RegExp(`: ${user.name} : (TTY|PWD)=.* USER=root ; COMMAND=`).test(l)).map((l) => l.replace(/^.* COMMAND=/, ''));
  };

  test('NRPE as the user: check_ephemeral_ports_sudo runs the plugin as root, as a direct run answers', async () => {
    const snippet = join(dir, 'nrpe.cfg');
    writeFileSync(snippet, snippetFor(plugin, ['command[nrpe_test_whoami]=/usr/bin/id -un', `command[nrpe_test_sudo_whoami]=${SUDO} -n /usr/bin/id -un`], false));
    const nrpe = new Nrpe(dir, 'nrpe-sudo', NRPE, await freePort(), true, { dontBlame: false, snippet, runAs: { user: user.name, group: user.name } });
    await nrpe.start();
    try {
      assert.equal(nrpe.check('nrpe_test_whoami').stdout.trim(), user.name);
      // Nothing but the plugin, with the rule's arguments, runs as root.
      const other = nrpe.check('nrpe_test_sudo_whoami');
      assert.notEqual(other.status, 0);
      assert.doesNotMatch(other.stdout, /root/);
      const viaNrpe = nrpe.check('check_ephemeral_ports_sudo');
      const direct = runBundle(['-w', '70', '-c', '90']);
      assert.equal(viaNrpe.status, direct.status, viaNrpe.stdout);
      assert.equal(stateWord(viaNrpe.stdout), stateWord(direct.stdout), viaNrpe.stdout);
      assert.deepEqual(splitNagiosOutput(viaNrpe.stdout).perfdata.map((p) => p.split('=')[0]), splitNagiosOutput(direct.stdout).perfdata.map((p) => p.split('=')[0]));
      assert.deepEqual(ranAsRoot(), [`${plugin} -w 70 -c 90`]);
      console.log(`# via NRPE and sudo (exit ${viaNrpe.status}): ${splitNagiosOutput(viaNrpe.stdout).firstLine}`);
      // Containers: every namespace, each one's sysctls read as root (none assumed).
      const containers = nrpe.check('check_ephemeral_ports_containers');
      assert.ok([0, 1, 2, 3].includes(containers.status ?? -1), containers.stdout);
      assert.equal(stateWord(containers.stdout), ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][containers.status ?? 3], containers.stdout);
      assert.ok(splitNagiosOutput(containers.stdout).perfdata.some((p) => /^namespaces=[1-9]\d*;/.test(p)), containers.stdout);
      assert.doesNotMatch(containers.stdout, /settings assumed/);
      assert.deepEqual(ranAsRoot().slice(1), [`${plugin} --namespaces all -w 70 -c 90`]);
    } finally {
      await nrpe.stop();
    }
  });

  test('Icinga 2 as the user: ephemeral_ports_sudo runs as root with the rules\' arguments; others are refused (exit 1)', async () => {
    const idir = join(dir, 'icinga');
    const layout = makeLayout(idir, { check_ephemeral_ports: plugin }, { zones: false, extra: IcingaDaemon.runtimeObjects(idir) });
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports.conf'), readFileSync(CONF));
    writeFileSync(join(layout.globalZoneDir, 'ephemeral_ports_sudo.conf'), readFileSync(SUDO_CONF));
    const service = (name: string, vars: string) => `object Service "${name}" { host_name = "h"; check_command = "ephemeral_ports_sudo"; check_interval = 5m; retry_interval = 5m; ${vars} }`;
    writeFileSync(join(layout.masterZoneDir, 'sudo-services.conf'), [
      'object Host "h" { check_command = "dummy"; enable_active_checks = false }',
      service('defaults', ''),
      service('thresholds', 'vars.ephemeral_ports_warning = "~:95"; vars.ephemeral_ports_critical = "@0:100"'),
      service('other-option', 'vars.ephemeral_ports_tcp = true'),
      service('proc-copy', 'vars.ephemeral_ports_proc = "/tmp"'),
      service('containers', 'vars.ephemeral_ports_namespaces = "all"'),
    ].join('\n'));
    const v = validate(layout);
    assert.equal(v.status, 0, v.output);
    chownTree(idir, user.uid, user.gid);
    const before = ranAsRoot().length;
    const icinga = new IcingaDaemon(layout, { user: user.name, group: user.name });
    const names = ['h!defaults', 'h!thresholds', 'h!other-option', 'h!proc-copy', 'h!containers'];
    try {
      await icinga.forceChecks(names);
      await icinga.waitForResults(names);
    } finally {
      await icinga.stop();
    }
    const stored = icinga.storedResults();
    const pluginPath = join(layout.pluginDir, 'check_ephemeral_ports');
    const defaults = stored.get('h!defaults')!;
    assert.deepEqual(defaults.command, [SUDO, '-n', pluginPath, '--critical', '90', '--warning', '70']);
    const direct = runBundle(['--critical', '90', '--warning', '70']);
    assert.equal(defaults.exit_status, direct.status, defaults.output);
    assert.equal(stateWord(defaults.output), stateWord(direct.stdout), defaults.output);
    const thresholds = stored.get('h!thresholds')!;
    assert.deepEqual(thresholds.command.slice(3), ['--critical', '@0:100', '--warning', '~:95']);
    assert.equal(thresholds.exit_status, 2, thresholds.output);
    for (const refused of ['h!other-option', 'h!proc-copy']) {
      const r = stored.get(refused)!;
      assert.equal(r.exit_status, 1, `${refused}: ${r.output}`);
      assert.match(r.output, /^sudo: a password is required/, refused);
    }
    const containers = stored.get('h!containers')!;
    assert.deepEqual(containers.command.slice(3), ['--critical', '90', '--namespaces', 'all', '--warning', '70']);
    assert.ok(containers.performance_data.some((p) => /^namespaces=[1-9]\d*;/.test(p)), containers.output);
    assert.doesNotMatch(containers.output, /settings assumed/);
    // sudo logs the program it resolved (PluginDir links to the staged copy).
    assert.deepEqual(ranAsRoot().slice(before).sort(), [`${plugin} --critical 90 --namespaces all --warning 70`, `${plugin} --critical 90 --warning 70`, `${plugin} --critical @0:100 --warning ~:95`]);
  });
});

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) chownTree(join(dir, entry.name), uid, gid);
  }
}
