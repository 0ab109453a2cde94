/**
 * Safe as root: a privileged run reveals port counts and nothing else.
 *
 * - A file the check reads may be anything: each one, made a symlink to a secret, gives an
 *   UNKNOWN naming the file, and no byte of the secret beyond the excerpt a kernel field
 *   may hold (digits, hex, `:`, `-`, `,`, blanks).
 * - Through a real sudo, run by a throwaway unprivileged user: with icinga/sudoers as
 *   shipped, sudo runs only the fixed arguments; with a wildcard rule (not recommended),
 *   the check itself refuses --proc, runs ss only from its fixed root-owned path, and a
 *   planted PATH or NODE_OPTIONS changes nothing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KernelError } from '../../src/host/errors';
import type { Host } from '../../src/host/host';
import { nodeHost } from '../../src/host/node-host';
import { run } from '../../src/run';
import { BUNDLE, BUSY_BUNDLE, bundleMissing, FIXTURES, namespacesUnavailable, ROOT, skipUnless } from '../helpers';
import { SUDO, SudoUser, sudoUnavailable, type UserRun } from '../sudo';

/** Every file the check reads from /proc (or a copy of it). */
const READ_FILES = [
  'sys/net/ipv4/ip_local_port_range',
  'sys/net/ipv4/ip_local_reserved_ports',
  'sys/net/ipv4/tcp_tw_reuse',
  'sys/net/ipv4/tcp_tw_reuse_delay',
  'sys/net/ipv4/tcp_timestamps',
  'net/tcp',
  'net/tcp6',
  'net/udp',
  'net/udp6',
];

const CANARY = 'QzXwVkJpLmNrTsUv';
/** Like /etc/shadow: nothing legible comes first. */
const SECRET_SHADOW = `root:$y$j9T$${CANARY}$Hq7ZkWyPl0:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n`;
/** Digits first, so the excerpt shows something, and must stop before the canary. */
const SECRET_DIGITS = `40000 60999 ${CANARY}\n8080,9090\n`;

/** What must never be printed: any four characters of the canary, or the shadow's shape. */
function leak(text: string): string | null {
  for (let i = 0; i + 4 <= CANARY.length; i++) if (text.includes(CANARY.slice(i, i + 4))) return CANARY.slice(i, i + 4);
  for (const word of ['root:', '$y$', 'daemon', '99999']) if (text.includes(word)) return word;
  return null;
}

describe('in-process: the refusal, and internal errors', () => {
  const fixture = join(FIXTURES, 'db-client');
  const elevated: Host = { ...nodeHost, elevated: 'SUDO_UID is set: started through sudo' };

  test('a privileged run refuses --proc, in the requested format, and reads nothing', async () => {
    const reads: string[] = [];
    const watched: Host = { ...elevated, readText: (p) => (reads.push(p), nodeHost.readText(p)), open: (p) => (reads.push(p), nodeHost.open(p)) };
    const message = '--proc refused: this run has more privileges than its caller (SUDO_UID is set: started through sudo); a captured copy needs none, run it without sudo';
    for (const dir of [fixture, '/proc']) {
      const r = await run(['--proc', dir], watched);
      assert.deepEqual(r, { exitCode: 3, stdout: `EPHEMERAL PORTS UNKNOWN - ${message}\n` });
    }
    const json = await run(['--proc', fixture, '--format', 'json'], watched);
    assert.equal(json.exitCode, 3);
    assert.deepEqual(JSON.parse(json.stdout), { status: 'UNKNOWN', state: 3, summary: message });
    assert.deepEqual(reads, []);
    // The same run unprivileged reads the copy.
    assert.match((await run(['--proc', fixture], nodeHost)).stdout, /^EPHEMERAL PORTS OK - worst tcp /);
  });

  test('an internal error names its type and place, never its message', async () => {
    const host: Host = {
      ...nodeHost,
      readText: async () => {
        throw new TypeError(`cannot handle ${SECRET_SHADOW}`);
      },
    };
    const r = await run(['--proc', fixture], host);
    assert.equal(r.exitCode, 3);
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - internal error: TypeError at privileged\.test\.ts:\d+:\d+ while reading .*\/sys\/net\/ipv4\n$/);
    assert.equal(leak(r.stdout), null);
    // A KernelError is ours: its message is already safe, and shown.
    const named: Host = { ...nodeHost, readText: async (p) => { throw new KernelError(p, 'odd', SECRET_DIGITS); } };
    assert.match((await run(['--proc', fixture], named)).stdout, /ip_local_port_range: odd \(read "40000 60999\.\.\."\)\n$/);
  });
});

/** A copy of the db-client fixture in `dir` with `file` replaced by a symlink to `target`. */
function copyWithLink(dir: string, file: string, target: string): string {
  cpSync(join(FIXTURES, 'db-client'), dir, { recursive: true });
  rmSync(join(dir, file), { force: true });
  symlinkSync(target, join(dir, file));
  return dir;
}

describe('as root (not through sudo): a symlinked secret is named, never shown', { skip: skipUnless(bundleMissing() || (process.getuid?.() === 0 ? false : 'needs root to read a root-only secret')) }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cep-root-direct-'));
    mkdirSync(join(dir, 'secret'), { mode: 0o700 });
    writeFileSync(join(dir, 'secret', 'shadow'), SECRET_SHADOW, { mode: 0o600 });
    writeFileSync(join(dir, 'secret', 'digits'), SECRET_DIGITS, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every file the check reads, in text and JSON, with -vvv', async () => {
    const cases: { what: string; file: string; args: string[] }[] = [];
    for (const secret of ['shadow', 'digits']) {
      for (const file of READ_FILES) {
        const proc = copyWithLink(join(dir, `${secret}-${file.replace(/\//g, '_')}`), file, join(dir, 'secret', secret));
        for (const format of [['-vvv', '--top', '0'], ['--format', 'json', '-vvv']]) {
          cases.push({ what: `${secret} as ${file} ${format.join(' ')}`, file: join(proc, file), args: ['--proc', proc, ...format] });
        }
      }
    }
    let excerpts = 0;
    // Side by side, a few at a time: each run is a Node start-up.
    for (let i = 0; i < cases.length; i += 6) {
      const batch = cases.slice(i, i + 6);
      const results = await Promise.all(batch.map((c) => runAsync(c.args)));
      batch.forEach(({ what, file }, k) => {
        const r = results[k];
        assert.equal(r.status, 3, `${what}: ${r.stdout}`);
        assert.equal(r.stderr, '', what);
        assert.ok(r.stdout.includes(file), `${what}: names the file: ${r.stdout}`);
        assert.equal(leak(r.stdout), null, `${what}: ${r.stdout}`);
        if (/\(read \\?"40000 60999\.\.\.\\?"\)/.test(r.stdout)) excerpts++;
      });
    }
    assert.equal(cases.length, 36);
    // The digits secret is shown up to the canary by the sysctl readers, text and JSON: the
    // bound is exercised, not only the empty excerpt.
    assert.ok(excerpts >= 4, `excerpts shown: ${excerpts}`);
  });
});

/** The bundle as a subprocess, without blocking the test's event loop. */
function runAsync(args: readonly string[]): Promise<UserRun> {
  return new Promise((resolve) => {
    const child = spawn(BUNDLE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('through a real sudo, run by an unprivileged user', { skip: skipUnless(sudoUnavailable()) }, () => {
  let user: SudoUser;
  /** Under icinga/sudoers as shipped (user and path replaced). */
  let plugin = '';
  /** Under a wildcard rule, `PLUGIN *`: what the check must survive by itself. */
  let wild = '';
  let secret = '';
  let markers = '';
  let attack = '';
  let cases = 0;
  const SHIPPED = '/usr/lib/nagios/plugins/check_ephemeral_ports';

  before(() => {
    user = new SudoUser('root');
    const s = user.stage;
    plugin = user.stagePlugin('plugins/check_ephemeral_ports');
    wild = user.stagePlugin('wild/check_ephemeral_ports');
    mkdirSync(join(s, 'secret'), { mode: 0o700 });
    secret = join(s, 'secret', 'shadow');
    writeFileSync(secret, SECRET_SHADOW, { mode: 0o600 });
    // Whatever a planted program runs as, it leaves a file here.
    markers = join(s, 'markers');
    mkdirSync(markers);
    chmodSync(markers, 0o777);
    // The user's own directory: the trees it points the check at, and its planted programs.
    attack = join(s, 'attack');
    mkdirSync(attack);
    const evil = join(attack, 'bin');
    mkdirSync(evil);
    for (const name of ['ss', 'node', 'nsenter']) writeFileSync(join(evil, name), `#!/bin/sh\ntouch ${markers}/${name}\ncat ${secret}\n`, { mode: 0o755 });
    writeFileSync(join(attack, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(join(markers, 'node-options'))}, '');\nconsole.log(require('fs').readFileSync(${JSON.stringify(secret)}, 'utf8'));\n`);
    for (const file of READ_FILES) copyWithLink(join(attack, `link-${file.replace(/\//g, '_')}`), file, secret);
    cpSync(join(FIXTURES, 'db-client'), join(attack, 'copy'), { recursive: true });
    // A FIFO that nobody writes, and files far larger than any kernel table.
    cpSync(join(FIXTURES, 'db-client'), join(attack, 'fifo'), { recursive: true });
    rmSync(join(attack, 'fifo', 'net', 'tcp'));
    assert.equal(spawnSync('mkfifo', [join(attack, 'fifo', 'net', 'tcp')]).status, 0);
    for (const file of ['sys/net/ipv4/ip_local_port_range', 'net/tcp']) {
      const dir = join(attack, `huge-${file.replace(/\//g, '_')}`);
      cpSync(join(FIXTURES, 'db-client'), dir, { recursive: true });
      truncateSync(join(dir, file), 8 * 1024 ** 3);
    }
    chownTree(attack, user.uid, user.gid);

    const shipped = readFileSync(join(ROOT, 'icinga', 'sudoers'), 'utf8');
    const rules = shipped.split(SHIPPED).join(plugin).replace(/^nagios /gm, `${user.name} `);
    assert.ok(rules.includes(`${user.name} ALL=(root) NOPASSWD: ${plugin} -w 70 -c 90`), rules);
    user.allow(`${rules}\n# Not recommended (icinga/README.md): any argument.\n${user.name} ALL=(root) NOPASSWD: ${wild} *\n`);
    // The test means something only if the user cannot read the secret by itself.
    assert.notEqual(user.run(['cat', secret]).status, 0);
  });

  after(() => user?.remove());

  /** Runs `sudo -n ...` as the user; checks what every case must hold. */
  function sudo(argv: readonly string[], env: Record<string, string> = {}): UserRun {
    const r = user.run([SUDO, '-n', ...argv], env);
    cases++;
    const what = `${argv.join(' ')} ${JSON.stringify(env)}`;
    assert.equal(leak(r.stdout + r.stderr), null, `${what}: ${r.stdout}${r.stderr}`);
    assert.deepEqual(readdirSync(markers), [], `${what}: a planted program ran`);
    return r;
  }

  const REFUSED = /^EPHEMERAL PORTS UNKNOWN - --proc refused: this run has more privileges than its caller \(SUDO_UID is set: started through sudo\); a captured copy needs none, run it without sudo\n$/;
  const ANSWER = /^EPHEMERAL PORTS (OK|WARNING|CRITICAL) - /;

  test('the shipped rules: the fixed arguments and the threshold pattern run as root, nothing else runs', () => {
    for (const args of [['-w', '70', '-c', '90'], ['--critical', '90', '--warning', '70'], ['--critical', '@10:20', '--warning', '~:5'], ['--critical', '-10:95.5', '--warning', '80:']]) {
      const r = sudo([plugin, ...args]);
      assert.match(r.stdout, ANSWER, args.join(' '));
      assert.ok([0, 1, 2].includes(r.status as number), args.join(' '));
      assert.equal(r.stderr, '');
    }
    for (const args of [['-w', '70', '-c', '91'], ['-w', '70', '-c', '90', '--proc', join(attack, 'link-sys_net_ipv4_ip_local_port_range')], ['--critical', '90', '--warning', '70', '--proc', join(attack, 'copy')], ['--critical', '90 --proc /', '--warning', '70'], ['--critical', '90', '--warning', '70', '--source=ss'], ['--proc', join(attack, 'copy')]]) {
      const r = sudo([plugin, ...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, 'sudo: a password is required\n');
    }
  });

  test('wildcard rule: --proc over a symlink to a secret, for every file the check reads, is refused', () => {
    for (const file of READ_FILES) {
      const proc = join(attack, `link-${file.replace(/\//g, '_')}`);
      const text = sudo([wild, '--proc', proc]);
      assert.equal(text.status, 3, `${file}: ${text.stdout}`);
      assert.match(text.stdout, REFUSED);
      assert.equal(text.stderr, '');
      const json = sudo([wild, '--proc', proc, '--format', 'json', '-vvv']);
      assert.equal(json.status, 3);
      assert.match(JSON.parse(json.stdout).summary, /^--proc refused: /);
      assert.equal(json.stderr, '');
    }
  });

  test('wildcard rule: --proc over a FIFO, a huge file, an intact copy is refused at once', () => {
    for (const dir of ['fifo', 'huge-sys_net_ipv4_ip_local_port_range', 'huge-net_tcp', 'copy']) {
      const started = Date.now();
      const r = sudo([wild, '--proc', join(attack, dir), '-t', '30']);
      assert.equal(r.status, 3, dir);
      assert.match(r.stdout, REFUSED, dir);
      assert.equal(r.stderr, '');
      assert.ok(Date.now() - started < 20_000, `${dir}: took ${Date.now() - started} ms`);
    }
  });

  test('wildcard rule: an ss (and a node) planted first on PATH never runs', () => {
    const env = { PATH: `${join(attack, 'bin')}:/usr/local/bin:/usr/bin:/bin` };
    for (const args of [[], ['--source', 'ss'], ['--source', 'auto', '-vv']]) {
      const r = sudo([wild, ...args], env);
      assert.match(r.stdout, ANSWER, args.join(' '));
      assert.equal(r.stderr, '');
    }
    // The root-owned /usr/bin/ss answered, not the planted one (auto would read /proc in
    // a namespace this small).
    assert.match(sudo([wild, '--source', 'ss', '-vv'], env).stdout, /^sockets read with ss \(sock_diag/m);
  });

  test('wildcard rule: NODE_OPTIONS in the environment changes nothing, and cannot be passed through sudo', () => {
    const options = `--require=${join(attack, 'evil.js')}`;
    const r = sudo([wild], { NODE_OPTIONS: options });
    assert.match(r.stdout, ANSWER);
    assert.equal(r.stderr, '');
    const passed = sudo([`NODE_OPTIONS=${options}`, wild]);
    assert.equal(passed.status, 1);
    assert.equal(passed.stdout, '');
    assert.match(passed.stderr, /^sudo: sorry, you are not allowed to set the following environment variables: NODE_OPTIONS\n$/);
    const preserved = sudo(['--preserve-env=NODE_OPTIONS', wild], { NODE_OPTIONS: options });
    assert.equal(preserved.status, 1);
  });

  test('case count', (t) => {
    t.diagnostic(`sudo cases run: ${cases}`);
    assert.equal(cases, 39);
  });
});

/** chown -h -R: the user's own tree, links included (they are never followed). */
function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, uid, gid);
    else lchownSync(path, uid, gid);
  }
}

/**
 * An ss that root does not own alone, put where the check looks for it: bind-mounted over
 * every fixed path in a private mount namespace (the hanging-ss trick of hardening.test.ts).
 */
describe('an ss that is not root\'s alone never runs', { skip: skipUnless(bundleMissing() || namespacesUnavailable()) }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cep-root-ss-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'ss'), `#!/bin/sh\ntouch ${dir}/ran\n`, { mode: 0o755 });
    chownSync(join(dir, 'ss'), 65534, 65534);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const withPlantedSs = (args: string[]) => {
    const mounts = ['/usr/bin/ss', '/usr/sbin/ss', '/bin/ss', '/sbin/ss'].map((p) => `[ -e ${p} ] && mount --bind ${dir}/ss ${p};`).join(' ');
    // A busy namespace, or auto would read /proc without looking at ss at all.
    return spawnSync('unshare', ['-m', '-n', '--propagation', 'private', 'sh', '-c', `${mounts} exec ${BUSY_BUNDLE} "$@"`, 'sh', ...args], { encoding: 'utf8', timeout: 30_000 });
  };

  test('--source ss: UNKNOWN naming the path and why', () => {
    const r = withPlantedSs(['--source', 'ss']);
    assert.equal(r.status, 3, r.stdout);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^EPHEMERAL PORTS UNKNOWN - \/usr\/bin\/ss: not run: \/usr\/bin\/ss is owned by uid 65534, not root\n$/);
  });

  test('--source auto: /proc answers, and -v and JSON say why', () => {
    const text = withPlantedSs(['-v']);
    assert.match(text.stdout, /^EPHEMERAL PORTS (OK|WARNING|CRITICAL) - /);
    assert.match(text.stdout, /^ss unusable \(\/usr\/bin\/ss: not run: \/usr\/bin\/ss is owned by uid 65534, not root\): read \/proc\/net instead$/m);
    const json = JSON.parse(withPlantedSs(['--format', 'json']).stdout);
    assert.equal(json.kernel.socketSource, 'proc');
    assert.ok(json.kernel.assumptions.some((a: string) => /^ss unusable \(\/usr\/bin\/ss: not run: .*owned by uid 65534/.test(a)), JSON.stringify(json.kernel));
    assert.ok(!existsSync(join(dir, 'ran')), 'the planted ss ran');
  });
});
