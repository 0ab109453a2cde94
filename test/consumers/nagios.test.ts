/**
 * The project's Nagios definitions on a real Nagios Core 4.4 (Debian's nagios4-core, a
 * private configuration, see nagios.ts): icinga/nagios-local.cfg.example (Nagios runs the
 * plugin) and icinga/nagios-nrpe.cfg.example (Nagios → check_nrpe → a real NRPE on
 * 127.0.0.1 → plugin), including its $ARG1$ variant on an NRPE built with command arguments.
 *
 * Services on frozen /proc trees (--proc) must be stored exactly as a direct run of the
 * bundle prints: the state, the first line, the long output and the perfdata, in status.dat
 * and in the perfdata file. The example services as shipped read the live /proc, where the
 * figures move between two runs; there the state must agree with a direct run.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, FIXTURES, ROOT, runBundle, skipUnless } from '../helpers';
import { NAGIOS4, NAGIOS_USER, NagiosCore, type StoredResult } from './nagios';
import { CHECK_NRPE, NRPE, Nrpe, SHIPPED_PATH, SNIPPET, buildNrpeWithArgs, freePort, nrpePrerequisites, shippedCommand, snippetFor, stateWord } from './nrpe';
import { removeDir, scratchDir, splitNagiosOutput, stableLabels, writeProcTree, type ProcTreeSpec } from './support';

const skip = skipUnless(nrpePrerequisites() || (existsSync(NAGIOS4) ? false : 'nagios4-core is not installed'));

/** 80 clients to 192.0.2.7:5432 in a 100-port range: 80 % used, 20 left; the database pool of the examples. */
const DB_POOL_80: ProcTreeSpec = { range: [40000, 40099], remote: '192.0.2.7', remotePort: 5432, clients: 80 };
/** 60 tuples (ports 5432-5491): with --top 0 the plugin cuts its longest output to stay under 4 KB. */
const SIXTY_TUPLES: ProcTreeSpec = { range: [40000, 40999], remote: '192.0.2.10', remotePort: 5432, clients: 10, tuples: 60 };

/**
 * What Nagios Core 4 keeps of a plugin's output (parse_check_output in base/checks.c): the
 * first line, stripped, up to a `|`; the long output is every following line up to the one
 * holding the `|`, its text before the `|` included (here empty, after the last newline);
 * the perfdata is what follows the `|`, stripped.
 */
function storedFromDirectRun(state: number | null, stdout: string): StoredResult {
  const { text } = splitNagiosOutput(stdout);
  const newline = text.indexOf('\n');
  const pipe = stdout.indexOf('|');
  return {
    state: state ?? -1,
    pluginOutput: (newline === -1 ? text : text.slice(0, newline)).trim(),
    longOutput: newline === -1 ? '' : text.slice(newline + 1),
    perfdata: pipe === -1 ? '' : stdout.slice(pipe + 1).trim(),
  };
}

const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

interface FrozenService {
  readonly host: string;
  readonly service: string;
  /** The plugin's arguments, as the direct run gets them. */
  readonly args: () => string[];
  readonly state: number;
  /** The check_command of a service the test defines, before the options; none: an example service as shipped. */
  readonly command?: string;
}

const LOCAL_EXAMPLE = join(ROOT, 'icinga', 'nagios-local.cfg.example');
const NRPE_EXAMPLE = join(ROOT, 'icinga', 'nagios-nrpe.cfg.example');

/** The $ARG1$ variant is commented out in the NRPE example: its command and service, enabled. */
function enabledNrpeExample(): string {
  const text = readFileSync(NRPE_EXAMPLE, 'utf8').replace(/^# (define (?:command|service) \{\n(?:#.*\n)*?)# \}/gm, (block: string) => block.replace(/^# ?/gm, ''));
  assert.match(text, /^define command \{\n\s+command_name\s+check_nrpe_args\n/m, 'the check_nrpe_args block was not enabled');
  return text;
}

/** The check_command of an example's service for this host_name (the $ARG1$ one enabled). */
function exampleCheckCommand(file: string, host: string, service: string): string {
  const text = file === NRPE_EXAMPLE ? enabledNrpeExample() : readFileSync(file, 'utf8');
  const field = (block: string, name: string) => new RegExp(`^\\s+${name}\\s+(.*)$`, 'm').exec(block)?.[1];
  const block = text.split(/^define service \{$/m).slice(1).map((b) => b.split('\n}')[0])
    .find((b) => field(b, 'host_name') === host && field(b, 'service_description') === service);
  const command = block && field(block, 'check_command');
  assert.ok(command, `${file} has no service "${service}" for host ${host}`);
  return command;
}

const LOCAL = 'check_ephemeral_ports!';
const NRPE_ARGS = 'check_nrpe_args!check_ephemeral_ports_args!';

describe('Nagios Core 4', { skip }, () => {
  let dir: string;
  let proc: string;
  let dbClient: string;
  let sixtyTuples: string;
  let missing: string;
  let nagios: NagiosCore;
  let verification: { status: number | null; output: string };
  const nrpes: Nrpe[] = [];
  let status: Map<string, StoredResult>;
  let perfdataFile: Map<string, StoredResult[]>;

  // Services on frozen /proc trees: the test's own (with a command) and the NRPE example's.
  const frozen: FrozenService[] = [
    // Local: the command of nagios-local.cfg.example, the options in $ARG1$.
    { host: 'localhost', service: 'Frozen OK, every detail', args: () => ['-vvv', '--top', '0', '--tuple-perfdata', '--proc', dbClient], state: 0, command: LOCAL },
    { host: 'localhost', service: 'Frozen WARNING', args: () => ['--proc', proc], state: 1, command: LOCAL },
    { host: 'localhost', service: 'Frozen CRITICAL, cut at 4 KB', args: () => ['-vvv', '--top', '0', '--tuple-perfdata', '-c', '0.5', '--proc', sixtyTuples], state: 2, command: LOCAL },
    { host: 'localhost', service: 'Frozen UNKNOWN', args: () => ['--proc', missing], state: 3, command: LOCAL },
    // NRPE: the two services of nagios-nrpe.cfg.example as shipped, for a host in its
    // hostgroups; the NRPE commands are icinga/nrpe.cfg's with --proc appended.
    { host: 'nrpe-host', service: 'Ephemeral ports', args: () => [...shippedCommand('check_ephemeral_ports'), '--proc', proc], state: 1 },
    { host: 'nrpe-host', service: 'Ephemeral ports to the database pool', args: () => [...shippedCommand('check_ephemeral_ports_db_pool'), '--proc', proc], state: 2 },
    // NRPE with $ARG1$: the check_nrpe_args command of nagios-nrpe.cfg.example.
    { host: 'db-client-03', service: 'Frozen via $ARG1$ OK', args: () => ['-w', '85', '-c', '95', '--proc', proc], state: 0, command: NRPE_ARGS },
    // `~` travels through Nagios and NRPE's /bin/sh unchanged (no user ":79").
    { host: 'db-client-03', service: 'Frozen via $ARG1$ WARNING', args: () => ['-w', '~:79', '--proc', proc], state: 1, command: NRPE_ARGS },
    { host: 'db-client-03', service: 'Frozen via $ARG1$ CRITICAL', args: () => ['-c', '75', '--proc', proc], state: 2, command: NRPE_ARGS },
    { host: 'db-client-03', service: 'Frozen via $ARG1$ UNKNOWN', args: () => ['--proc', missing], state: 3, command: NRPE_ARGS },
  ];
  // The example services as shipped, on the live /proc; the options are their last $ARGn$.
  const live = [
    { host: 'localhost', service: 'Ephemeral ports', file: LOCAL_EXAMPLE },
    { host: 'localhost', service: 'Ephemeral ports to the database pool', file: LOCAL_EXAMPLE },
    { host: 'db-client-03', service: 'Ephemeral ports', file: NRPE_EXAMPLE },
  ].map((s) => ({ ...s, args: () => exampleCheckCommand(s.file, s.host, s.service).split('!').at(-1)!.split(' ') }));
  const key = (s: { host: string; service: string }) => `${s.host};${s.service}`;

  before(async () => {
    // Staged where the nagios user can read them: the repository may sit in a 0700 directory.
    dir = scratchDir('nagios');
    const pluginDir = join(dir, 'plugins');
    const plugin = join(pluginDir, 'check_ephemeral_ports');
    mkdirSync(pluginDir);
    copyFileSync(BUNDLE, plugin);
    chmodSync(plugin, 0o755);
    symlinkSync(CHECK_NRPE, join(pluginDir, 'check_nrpe'));
    proc = writeProcTree(join(dir, 'proc-db-pool-80'), DB_POOL_80);
    sixtyTuples = writeProcTree(join(dir, 'proc-sixty-tuples'), SIXTY_TUPLES);
    dbClient = join(dir, 'db-client');
    cpSync(join(FIXTURES, 'db-client'), dbClient, { recursive: true });
    missing = join(dir, 'no-such-proc');

    // Debian's NRPE (SSL) with the shipped commands the Nagios example calls, on the frozen tree.
    const frozenSnippet = readFileSync(SNIPPET, 'utf8').split(SHIPPED_PATH).join(plugin)
      .replace(/^(command\[check_ephemeral_ports(?:_db_pool)?\]=.*)$/gm, `$1 --proc ${proc}`);
    writeFileSync(join(dir, 'snippet-frozen.cfg'), frozenSnippet);
    const safe = new Nrpe(dir, 'nrpe-safe', NRPE, await freePort(), true, { dontBlame: false, snippet: join(dir, 'snippet-frozen.cfg') });
    nrpes.push(safe);
    await safe.start();
    // NRPE built with command arguments (no SSL), dont_blame_nrpe=1, the $ARG1$ line enabled.
    writeFileSync(join(dir, 'snippet-args.cfg'), snippetFor(plugin, [], true));
    const withArgs = new Nrpe(dir, 'nrpe-args', buildNrpeWithArgs(join(dir, 'nrpe-build')), await freePort(), false, { dontBlame: true, snippet: join(dir, 'snippet-args.cfg') });
    nrpes.push(withArgs);
    await withArgs.start();

    nagios = new NagiosCore(join(dir, 'nagios'), pluginDir);
    nagios.addObjects('nagios-local', readFileSync(LOCAL_EXAMPLE, 'utf8'));
    nagios.addObjects('nagios-nrpe', enabledNrpeExample());
    // check_nrpe reaches each NRPE through $HOSTADDRESS$: the address carries the port (and
    // -n for the build without SSL), so the command lines stay as shipped.
    const host = (name: string, address: string, groups = '') => `define host {\n    use generic-host\n    host_name ${name}\n    address ${address}\n${groups && `    hostgroups ${groups}\n`}}\n`;
    const hostAddress = (nrpe: Nrpe) => nrpe.address.slice(1).join(' '); // without -H
    nagios.addObjects('test', [
      host('localhost', '127.0.0.1'),
      host('nrpe-host', hostAddress(safe), 'linux-servers,db-clients'),
      host('db-client-03', hostAddress(withArgs)),
      'define hostgroup {\n    hostgroup_name linux-servers\n}\n',
      'define hostgroup {\n    hostgroup_name db-clients\n}\n',
      'define command {\n    command_name nagios_test_whoami\n    command_line /usr/bin/id -un\n}\n',
      'define service {\n    use generic-service\n    host_name localhost\n    service_description whoami\n    check_command nagios_test_whoami\n}\n',
      ...frozen.filter((s) => s.command).map((s) =>
        `define service {\n    use generic-service\n    host_name ${s.host}\n    service_description ${s.service}\n    check_command ${s.command}${s.args().join(' ')}\n}\n`),
    ].join('\n'));

    verification = nagios.verify();
    assert.equal(verification.status, 0, verification.output);
    await nagios.start();
    await nagios.forceChecks(['localhost', 'nrpe-host', 'db-client-03']);
    await nagios.waitForResults([...frozen.map(key), ...live.map(key), 'localhost;whoami']);
    status = nagios.statusResults();
    perfdataFile = nagios.perfdataResults();
  });

  after(async () => {
    await nagios?.stop();
    for (const n of nrpes) await n.stop();
    removeDir(dir);
  });

  test('nagios4 -v accepts the configuration without a warning', () => {
    assert.match(verification.output, /Nagios Core 4\.4\./);
    assert.match(verification.output, /Total Warnings: 0\n/, verification.output);
    assert.match(verification.output, /Total Errors: +0\n/, verification.output);
    assert.match(verification.output, /Checked \d+ services\./);
  });

  test('Nagios runs the plugins as its unprivileged user', () => {
    assert.equal(status.get('localhost;whoami')?.pluginOutput, NAGIOS_USER);
  });

  for (const s of frozen) {
    test(`${s.host} / ${s.service}: stored as a direct run prints (${STATES[s.state]})`, () => {
      const direct = runBundle(s.args());
      assert.equal(direct.status, s.state, direct.stdout);
      const expected = storedFromDirectRun(direct.status, direct.stdout);
      assert.deepEqual(status.get(key(s)), expected, 'status.dat');
      const written = perfdataFile.get(key(s)) ?? [];
      assert.ok(written.length > 0, 'no line in the perfdata file');
      for (const w of written) assert.deepEqual(w, expected, 'perfdata file');
    });
  }

  test('long outputs are kept whole: every detail line, and the longest output the plugin prints', () => {
    const service = (name: string) => frozen.find((s) => s.service === name)!;
    const [everyDetail, cut] = [service('Frozen OK, every detail'), service('Frozen CRITICAL, cut at 4 KB')];
    for (const s of [everyDetail, cut]) {
      const lines = runBundle(s.args()).stdout.split('\n'); // the first line, detail lines, the perfdata line, ''
      assert.ok(lines.length > 10, lines.join('\n'));
      assert.equal(status.get(key(s))!.longOutput, `${lines.slice(1, -2).join('\n')}\n`);
    }
    const bytes = Buffer.byteLength(runBundle(cut.args()).stdout);
    assert.ok(bytes > 3500 && bytes < 4096, `${bytes} bytes`);
    assert.match(status.get(key(cut))!.longOutput, /\n\.\.\. \d+ more not shown \(output kept under 4 KB\)\n$/);
  });

  for (const s of live) {
    test(`${s.host} / ${s.service} (example as shipped, live /proc): the state of a direct run`, () => {
      const stored = status.get(key(s))!;
      const direct = runBundle(s.args());
      assert.equal(stored.state, direct.status, `${stored.pluginOutput}\n${direct.stdout}`);
      assert.equal(stateWord(stored.pluginOutput), STATES[stored.state], stored.pluginOutput);
      assert.deepEqual(stableLabels(stored.perfdata.split(' ')), stableLabels(splitNagiosOutput(direct.stdout).perfdata));
    });
  }
});
