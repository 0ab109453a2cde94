/**
 * icinga/nrpe.cfg on real NRPE daemons (a private config on 127.0.0.1 and a free port,
 * never the system one), the plugin run as the unprivileged nrpe_user, asked by Debian's
 * check_nrpe; then the Icinga 2 side (icinga/nrpe-services.conf.example through the ITL's
 * "nrpe" CheckCommand). The Nagios side (icinga/nagios-nrpe.cfg.example) runs on a real
 * Nagios Core in nagios.test.ts.
 *
 * A direct run is the reference. On the live /proc the NRPE connection itself is one more
 * socket, so there the states and line shapes must agree; on a frozen /proc (--proc) and
 * for the database-pool command, which selects no local socket, the output must be equal.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUNDLE, ROOT, runBundle, skipUnless } from '../helpers';
import { ICINGA2, IcingaDaemon, makeLayout, validate } from './icinga2';
import { CHECK_NRPE, NRPE, Nrpe, buildNrpeWithArgs, freePort, nrpePrerequisites, nrpeUser, shippedCommand, snippetFor, stateWord } from './nrpe';
import { POOL_80, commandMissing, removeDir, scratchDir, splitNagiosOutput, stableLabels, writeProcTree } from './support';

const skip = skipUnless(nrpePrerequisites());

describe('NRPE', { skip }, () => {
  let dir: string;
  let plugin: string;
  let proc: string;
  const daemons: Nrpe[] = [];
  let safe: Nrpe;

  before(async () => {
    dir = scratchDir('nrpe');
    plugin = join(dir, 'check_ephemeral_ports');
    copyFileSync(BUNDLE, plugin); // the committed bundle, where the unprivileged user can read it
    chmodSync(plugin, 0o755);
    proc = writeProcTree(join(dir, 'proc-80'), POOL_80);
    const extra = [
      'command[nrpe_test_whoami]=/usr/bin/id -un',
      `command[nrpe_test_frozen]=${[plugin, ...shippedCommand('check_ephemeral_ports'), '--proc', proc].join(' ')}`,
    ];
    writeFileSync(join(dir, 'shipped.cfg'), snippetFor(plugin, extra, false));
    writeFileSync(join(dir, 'with-args.cfg'), snippetFor(plugin, extra, true));
    safe = new Nrpe(dir, 'nrpe-safe', NRPE, await freePort(), true, { dontBlame: false, snippet: join(dir, 'shipped.cfg') });
    daemons.push(safe);
    await safe.start();
  });

  after(async () => {
    for (const d of daemons) await d.stop();
    removeDir(dir);
  });

  test('runs the commands as the unprivileged nrpe_user', () => {
    const r = safe.check('nrpe_test_whoami');
    assert.equal(r.stdout.trim(), nrpeUser().user);
  });

  test('check_ephemeral_ports as shipped: the same exit code and state line as a direct run', () => {
    const direct = runBundle(shippedCommand('check_ephemeral_ports'));
    const viaNrpe = safe.check('check_ephemeral_ports');
    assert.equal(viaNrpe.status, direct.status, viaNrpe.stdout);
    const [a, b] = [splitNagiosOutput(viaNrpe.stdout), splitNagiosOutput(direct.stdout)];
    assert.equal(stateWord(a.firstLine), stateWord(b.firstLine), `${a.firstLine}\n${b.firstLine}`);
    assert.deepEqual(stableLabels(a.perfdata), stableLabels(b.perfdata));
    console.log(`# via NRPE (exit ${viaNrpe.status}): ${a.firstLine}`);
  });

  test('the shipped command on a frozen /proc: byte for byte the output and exit code of a direct run', () => {
    const direct = runBundle([...shippedCommand('check_ephemeral_ports'), '--proc', proc]);
    const viaNrpe = safe.check('nrpe_test_frozen');
    assert.equal(direct.status, 1);
    assert.equal(viaNrpe.status, direct.status);
    assert.equal(viaNrpe.stdout, direct.stdout);
  });

  test('check_ephemeral_ports_db_pool as shipped: the same exit code and first line', () => {
    const direct = runBundle(shippedCommand('check_ephemeral_ports_db_pool'));
    const viaNrpe = safe.check('check_ephemeral_ports_db_pool');
    assert.equal(viaNrpe.status, direct.status);
    assert.equal(splitNagiosOutput(viaNrpe.stdout).firstLine, splitNagiosOutput(direct.stdout).firstLine);
    console.log(`# via NRPE (exit ${viaNrpe.status}): ${splitNagiosOutput(viaNrpe.stdout).firstLine}`);
  });

  test('with dont_blame_nrpe=0 a request with arguments is refused', () => {
    const r = safe.check('check_ephemeral_ports', ['-w 10']);
    assert.equal(r.status, 3, r.stdout);
    assert.match(safe.logText(), /Request contained command arguments/);
  });

  test("Debian's NRPE refuses arguments even with dont_blame_nrpe=1: it is built without them", async () => {
    const debian = new Nrpe(dir, 'nrpe-debian-args', NRPE, await freePort(), true, { dontBlame: true, snippet: join(dir, 'with-args.cfg') });
    daemons.push(debian);
    await debian.start();
    const r = debian.check('check_ephemeral_ports_args', ['-w 10']);
    assert.equal(r.status, 3, r.stdout);
    assert.match(debian.logText(), /Request contained command arguments/);
    await debian.stop();
  });

  describe('the $ARG1$ variant on NRPE built with --enable-command-args, dont_blame_nrpe=1', () => {
    let nrpe: Nrpe;

    before(async () => {
      nrpe = new Nrpe(dir, 'nrpe-args', buildNrpeWithArgs(join(dir, 'nrpe-build')), await freePort(), false, { dontBlame: true, snippet: join(dir, 'with-args.cfg') });
      daemons.push(nrpe);
      await nrpe.start();
    });

    for (const [options, state] of [
      [`--proc PROC`, 1],
      [`--proc PROC -c 75`, 2],
      [`-w 85 -c 95 --proc PROC`, 0],
      [`-w ~:79 --proc PROC`, 1], // `~` reaches the plugin: sh leaves ~:79 alone (no user ":79")
      [`-w @0:100 --proc PROC --remote 192.0.2.0/24 --remote-port 5432-5433`, 1],
    ] as const) {
      test(`-a '${options}': the output and exit code of a direct run`, () => {
        const text = options.replace('PROC', proc);
        const viaNrpe = nrpe.check('check_ephemeral_ports_args', [text]);
        const direct = runBundle(text.split(' '));
        assert.equal(direct.status, state, direct.stdout);
        assert.equal(viaNrpe.status, direct.status, viaNrpe.stdout);
        assert.equal(viaNrpe.stdout, direct.stdout);
      });
    }

    test('a request holding a shell metacharacter is refused whole', () => {
      const r = nrpe.check('check_ephemeral_ports_args', [`--proc ${proc} -w 70;id`]);
      assert.equal(r.status, 3, r.stdout);
      assert.match(nrpe.logText(), /illegal metachars/);
    });
  });

  test('Icinga 2 → check_nrpe → NRPE → bundle, with icinga/nrpe-services.conf.example', { skip: skipUnless(commandMissing(ICINGA2)) }, async () => {
    const idir = join(dir, 'icinga');
    const layout = makeLayout(idir, { check_nrpe: CHECK_NRPE }, { zones: false, extra: IcingaDaemon.runtimeObjects(idir) });
    writeFileSync(join(layout.masterZoneDir, 'nrpe-services.conf'), readFileSync(join(ROOT, 'icinga', 'nrpe-services.conf.example')));
    writeFileSync(join(layout.masterZoneDir, 'host.conf'),
      `object Host "db-client" { check_command = "dummy"; enable_active_checks = false; address = "127.0.0.1"; vars.os = "Linux"; vars.nrpe = true; vars.ephemeral_ports_db_pool = true; vars.nrpe_port = ${safe.port} }\n`);
    const v = validate(layout);
    assert.equal(v.status, 0, v.output);
    const icinga = new IcingaDaemon(layout);
    const names = ['db-client!ephemeral-ports', 'db-client!ephemeral-ports-db-pool'];
    try {
      await icinga.forceChecks(names);
      await icinga.waitForResults(names);
    } finally {
      await icinga.stop();
    }
    const stored = icinga.storedResults();
    const pool = stored.get('db-client!ephemeral-ports-db-pool')!;
    assert.equal(pool.command[0], join(layout.pluginDir, 'check_nrpe'));
    assert.ok(pool.command.includes('check_ephemeral_ports_db_pool'), pool.command.join(' '));
    const direct = runBundle(shippedCommand('check_ephemeral_ports_db_pool'));
    assert.equal(pool.exit_status, direct.status);
    assert.equal(pool.output.trimEnd(), splitNagiosOutput(direct.stdout).text.trimEnd());
    assert.deepEqual(stableLabels(pool.performance_data), stableLabels(splitNagiosOutput(direct.stdout).perfdata));
    const host = stored.get('db-client!ephemeral-ports')!;
    assert.equal(host.state, host.exit_status);
    assert.equal(stateWord(host.output), ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][host.state], host.output);
  });
});
