/**
 * Fuzzing with fixed seeds: random command lines and mutated /proc trees must always end
 * in a correct Nagios answer — exit 0-3, a status line matching the code, one `|` at most,
 * under 4 KB, and for kernel faults an UNKNOWN that names the file rather than an
 * "internal error" (with --format prometheus: the check state gauge equal to the exit code).
 * Most cases run in-process through run(); a sample through the bundle.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { nodeHost } from '../../src/host/node-host';
import { run } from '../../src/run';
import { Random } from '../fuzz';
import { bundleMissing, FIXTURES, runBundle, skipUnless } from '../helpers';

const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

/**
 * The format every answer must come in, from the command line alone: the value of each
 * --format (the next token, unless that is another long option, or after `=`); one valid
 * value given every time decides, none means nagios, anything else may come out either way.
 */
function formatAsked(argv: readonly string[]): 'nagios' | 'json' | 'prometheus' | 'any' {
  const given: string[] = [];
  argv.forEach((token, i) => {
    if (token === '--format' && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) given.push(argv[i + 1]);
    else if (token === '--format' || token.startsWith('--format=')) given.push(token.slice('--format='.length));
  });
  if (given.length === 0) return 'nagios';
  const [first] = given;
  return given.every((g) => g === first) && (first === 'nagios' || first === 'json' || first === 'prometheus') ? first : 'any';
}

/** The rules every answer obeys; returns what is wrong, or null. */
function violation(exitCode: number | null, stdout: string, argv: readonly string[]): string | null {
  if (exitCode === null || exitCode < 0 || exitCode > 3) return `exit code ${exitCode}`;
  const asked = formatAsked(argv);
  const help = argv.some((a) => /^-[^-]*[hV]|^--(help|version)$/.test(a));
  // A file for node_exporter, not a plugin answer: no 4 KB cap, the state in a gauge.
  const state = /^ephemeral_ports_check_state (\d)$/m.exec(stdout);
  if (asked === 'prometheus' || (asked === 'any' && state)) {
    if (!state) return 'no check_state gauge';
    return Number(state[1]) === exitCode ? null : `check_state ${state[1]} with exit ${exitCode}`;
  }
  if (asked === 'json' || (asked === 'any' && stdout.startsWith('{'))) {
    // For scripts, not a plugin answer: no 4 KB cap (--top 0 lists every pool).
    // Every answer, usage errors and --help included, is one JSON object.
    let j: { status?: string; summary?: unknown };
    try {
      j = JSON.parse(stdout);
    } catch {
      return 'not JSON';
    }
    if (typeof j.summary !== 'string' || j.summary === '') return 'JSON without a summary';
    return j.status === STATES[exitCode] ? null : `JSON status ${j.status} with exit ${exitCode}`;
  }
  if (Buffer.byteLength(stdout) >= 4096) return `output of ${Buffer.byteLength(stdout)} bytes`;
  if (help && exitCode === 3 && stdout.length > 0) return null; // --help/--version: text, exit 3
  const first = stdout.split('\n')[0];
  const m = /^EPHEMERAL PORTS (OK|WARNING|CRITICAL|UNKNOWN) - \S/.exec(first);
  if (!m) return `first line ${JSON.stringify(first)}`;
  if (m[1] !== STATES[exitCode]) return `state ${m[1]} with exit ${exitCode}`;
  const pipes = stdout.split('|').length - 1;
  if (pipes > 1 || (pipes === 0 && exitCode !== 3)) return `${pipes} pipes`;
  if (/internal error/.test(first)) return 'internal error';
  return null;
}

const OPTION_WORDS = ['-w', '-c', '--warning', '--critical', '--warning-remaining', '--critical-remaining', '--tcp', '--udp', '-4', '-6', '--remote', '--remote-port', '--local', '--top', '--tuple-perfdata', '--format', '--source', '--proc', '-t', '--timeout', '-v', '-vv', '-vvv', '--verbose', '-x', '--bogus', '--', '-'];
const VALUES = ['70', '90', '10:', '~:90', '@10:20', '2:1', ':', 'foo', '1-10', '1,10', '', ' ', '-5:', '010', '1e3', '0', '-1', '99999999999999999999999', '.5', '5%', 'json', 'nagios', 'prometheus', 'xml', 'ss', 'proc', 'auto', '10.0.0.0/8', '::1', '::ffff:127.0.0.1/120', '127.0.0.2', '5432', '8000-8099', '70000', 'a|b', '\n', 'ü', '0x10', 'NaN', 'Infinity'];

function randomArgv(rng: Random, proc: string): string[] {
  const argv: string[] = [];
  const n = rng.int(6);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.6) {
      argv.push(rng.pick(OPTION_WORDS));
      if (rng.next() < 0.7) argv.push(rng.pick(VALUES));
    } else if (r < 0.8) {
      argv.push(`${rng.pick(['-w', '-c', '-t'])}${rng.pick(VALUES)}`);
    } else if (r < 0.9) {
      argv.push(`${rng.pick(['--warning', '--critical', '--top', '--format', '--remote', '--tcp'])}=${rng.pick(VALUES)}`);
    } else {
      argv.push(rng.pick(VALUES));
    }
  }
  // Keep most cases on a fixture so the live host does not decide the answer.
  if (!argv.includes('--proc') && rng.next() < 0.9) argv.push('--proc', proc);
  return argv;
}

test('fuzz: 1500 random command lines, in-process (seed 20261124)', async () => {
  const rng = new Random(20261124);
  const proc = join(FIXTURES, 'db-client');
  const problems: string[] = [];
  for (let i = 0; i < 1500; i++) {
    const argv = randomArgv(rng, proc);
    const r = await run(argv, nodeHost);
    const why = violation(r.exitCode, r.stdout, argv);
    if (why) problems.push(`${JSON.stringify(argv)}: ${why}\n${r.stdout}`);
  }
  assert.deepEqual(problems.slice(0, 5), []);
});

test('fuzz: 400 random command lines with --format prometheus, in-process (seed 12)', async () => {
  const rng = new Random(12);
  const proc = join(FIXTURES, 'db-client');
  const problems: string[] = [];
  let files = 0;
  for (let i = 0; i < 400; i++) {
    const argv = [...randomArgv(rng, proc), '--format', 'prometheus'];
    const r = await run(argv, nodeHost);
    if (/^ephemeral_ports_check_state \d$/m.test(r.stdout)) files++;
    const why = violation(r.exitCode, r.stdout, argv);
    if (why) problems.push(`${JSON.stringify(argv)}: ${why}\n${r.stdout}`);
  }
  assert.deepEqual(problems.slice(0, 5), []);
  assert.ok(files > 40, `only ${files} answers in the prometheus format (the rest were usage errors)`);
});

test('fuzz: 600 random command lines with --format json anywhere: always one JSON object (seed 16)', async (t) => {
  const rng = new Random(16);
  const proc = join(FIXTURES, 'db-client');
  const problems: string[] = [];
  const seen = { verdicts: 0, usageErrors: 0, help: 0, otherUnknowns: 0 };
  for (let i = 0; i < 600; i++) {
    const argv = randomArgv(rng, proc).filter((a) => !a.startsWith('--format'));
    argv.splice(rng.int(argv.length + 1), 0, ...(rng.next() < 0.5 ? ['--format', 'json'] : ['--format=json']));
    const r = await run(argv, nodeHost);
    assert.equal(formatAsked(argv), 'json');
    const why = violation(r.exitCode, r.stdout, argv);
    if (why) {
      problems.push(`${JSON.stringify(argv)}: ${why}\n${r.stdout}`);
      continue;
    }
    const j = JSON.parse(r.stdout);
    if (j.usage !== undefined) seen.usageErrors++;
    else if (j.help !== undefined || j.version !== undefined) seen.help++;
    else if (j.range !== undefined) seen.verdicts++;
    else seen.otherUnknowns++;
  }
  assert.deepEqual(problems.slice(0, 5), []);
  // Not vacuous: usage errors and verdicts both came out as JSON.
  assert.ok(seen.usageErrors > 100 && seen.verdicts > 50, JSON.stringify(seen));
  t.diagnostic(`JSON answers: ${JSON.stringify(seen)}`);
});

test('fuzz: 60 random command lines through the bundle: stderr stays empty', { skip: skipUnless(bundleMissing()) }, () => {
  const rng = new Random(7);
  const proc = join(FIXTURES, 'db-client');
  for (let i = 0; i < 60; i++) {
    const argv = randomArgv(rng, proc);
    const r = runBundle(argv);
    assert.equal(r.stderr, '', JSON.stringify(argv));
    assert.equal(violation(r.status, r.stdout, argv), null, `${JSON.stringify(argv)}\n${r.stdout}`);
  }
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

type Mutation = (bytes: Buffer, rng: Random) => Buffer;
const MUTATIONS: Record<string, Mutation> = {
  truncate: (b, rng) => b.subarray(0, rng.int(b.length + 1)),
  flipByte: (b, rng) => {
    const c = Buffer.from(b);
    if (c.length) c[rng.int(c.length)] = rng.int(256);
    return c;
  },
  nonHex: (b, rng) => {
    const c = Buffer.from(b);
    for (let k = 0; k < 3 && c.length; k++) c[rng.int(c.length)] = rng.pick([0x47, 0x7a, 0x20, 0x3a, 0x0a, 0x2d]);
    return c;
  },
  binaryJunk: (b, rng) => Buffer.concat([b.subarray(0, rng.int(b.length + 1)), Buffer.from(Array.from({ length: 1 + rng.int(200) }, () => rng.int(256)))]),
  empty: () => Buffer.alloc(0),
  dropLines: (b, rng) => Buffer.from(b.toString('latin1').split('\n').filter(() => rng.next() < 0.7).join('\n'), 'latin1'),
  duplicateLines: (b, rng) => {
    const lines = b.toString('latin1').split('\n');
    return Buffer.from(lines.flatMap((l) => (rng.next() < 0.3 ? [l, l] : [l])).join('\n'), 'latin1');
  },
  hugeNumber: () => Buffer.from('99999999999999999999 1\n'),
  // Foreign bytes (a symlink to a secret file, say): never echoed past the excerpt.
  secret: () => Buffer.from(SECRET),
  secretAfterDigits: (b, rng) => Buffer.concat([Buffer.from(`${rng.pick(['4', '40000 ', '8080,40100-', '0100007F:9C40 ', ''])}`), Buffer.from(CANARY), b]),
  secretSpliced: (b, rng) => {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick([CANARY, ` ${CANARY}`, `:${CANARY}`, `\n${CANARY}\n`])), b.subarray(at)]);
  },
};

/** Marks foreign bytes: letters and signs no kernel field holds, so no excerpt may show them. */
const CANARY = 'QzXw$VkJp/LmNr=TsUv';
const SECRET = `root:$y$j9T$${CANARY}:19700:0:99999:7:::\n`;

/**
 * What the output may show of the input: the excerpts (`read "..."`) only, each at most 20
 * characters a kernel field can hold; never four characters of the canary; only printable
 * ASCII. Returns what is wrong, or null.
 */
function leak(stdout: string, dir: string): string | null {
  const text = stdout.split(dir).join('DIR');
  for (let i = 0; i + 4 <= CANARY.length; i++) if (text.includes(CANARY.slice(i, i + 4))) return `canary ${CANARY.slice(i, i + 4)} in the output`;
  if (/[^\x20-\x7e\n]/.test(text)) return 'a byte outside printable ASCII in the output';
  for (const m of text.matchAll(/read \\?"(.*?)\\?"\)/g)) {
    if (!/^[0-9A-Fa-f:, -]{1,20}(\.\.\.)?$/.test(m[1])) return `excerpt ${JSON.stringify(m[1])}`;
  }
  return null;
}

test('fuzz: 400 mutated /proc trees, in-process (seed 42)', async (t) => {
  const rng = new Random(42);
  const base = join(FIXTURES, 'db-client');
  const targets = files(base).map((f) => relative(base, f));
  const dir = mkdtempSync(join(tmpdir(), 'cep-fuzz-'));
  const problems: string[] = [];
  const outcomes = [0, 0, 0, 0];
  let secretCases = 0;
  try {
    for (let i = 0; i < 400; i++) {
      rmSync(dir, { recursive: true, force: true });
      cpSync(base, dir, { recursive: true });
      const target = rng.pick(targets);
      const name = rng.pick(Object.keys(MUTATIONS));
      const mutated = MUTATIONS[name](readFileSync(join(base, target)), rng);
      if (rng.next() < 0.1) rmSync(join(dir, target));
      else writeFileSync(join(dir, target), mutated);
      const argv = ['--proc', dir, '--top', '0', '-vvv'];
      const r = await run(argv, nodeHost);
      outcomes[r.exitCode]++;
      const why = violation(r.exitCode, r.stdout, argv);
      if (why) problems.push(`${target} ${name}: ${why}\n${r.stdout}`);
      // A kernel fault is named: the path of the file in the message.
      if (r.exitCode === 3 && !r.stdout.includes(dir)) problems.push(`${target} ${name}: UNKNOWN without a path: ${r.stdout}`);
      const leaked = leak(r.stdout, dir);
      if (leaked) problems.push(`${target} ${name}: ${leaked}: ${r.stdout}`);
      if (name.startsWith('secret')) secretCases++;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems.slice(0, 5), []);
  // Not vacuous: mutations both break the input and leave it readable.
  assert.ok(outcomes[3] > 50 && outcomes[0] + outcomes[1] + outcomes[2] > 50, `outcomes ${outcomes}`);
  assert.ok(secretCases > 50, `${secretCases} trees with foreign bytes`);
  t.diagnostic(`mutated trees: OK ${outcomes[0]}, WARNING ${outcomes[1]}, CRITICAL ${outcomes[2]}, UNKNOWN ${outcomes[3]}; ${secretCases} with foreign bytes`);
});
