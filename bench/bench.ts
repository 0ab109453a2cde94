/**
 * npm run bench -- [--shapes LIST] [--sockets N] [--runs N] [--background N] [--check PATH] [--compare PATH]
 *
 * Times the committed bundle on busy hosts of several shapes, each built on purpose in a
 * private network namespace of its own (loopback only, range 10000-65000, gone when that
 * shape is done), against what it competes with: the filtered `ss`, a naive `ss | awk`
 * that counts sockets per tuple, and `cat` of the /proc tables; and against the floor of
 * any check in Node, node reading ss -D and parsing nothing. Commands run round-robin,
 * so load from elsewhere falls on each alike; medians, min-max, CPU time and peak RSS are
 * printed per shape, then one table for all shapes (the README's). See bench/README.md,
 * "Benchmark"; --help lists the options.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, median, type Command, type Sample } from './timing';

const ROOT = join(__dirname, '..');
const HOLDER = join(__dirname, 'holder.py');
const RANGE = { low: 10000, high: 65000 };
/** Two descriptors per connection, under the 20,000 open files a process may have. */
const PER_HOLDER = 8900;
const FILTER = `( sport >= :${RANGE.low} and sport <= :${RANGE.high} )`;
/**
 * The floor of any check written for Node: start node, run ss -D as the check does and read
 * its records, parse nothing. What the check takes beyond it is its own work.
 */
const FLOOR = "require('node:child_process').spawn('ss', ['-D', '-', '-4tan'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout.on('data', () => {});";
const FLOOR_NAME = 'node reading ss -D';
/** What an operator writes in five minutes: sockets per (local address, peer) from the filtered ss. */
const AWK = '$1 != "LISTEN" { l = $4; sub(/:[^:]*$/, "", l); n[l " " $5]++ } END { for (t in n) if (n[t] > m) { m = n[t]; w = t } print m, w }';

interface ShapeKind {
  readonly what: string;
  /** Connections per tuple for outbound shapes; null: inbound to the in-range listener. */
  readonly perTuple: number | null;
  /** Wall time target, as a ratio to the filtered ss. */
  readonly target: number;
}

const SHAPES: Record<string, ShapeKind> = {
  client: { what: 'few large tuples: ~2,250 connections to each destination', perTuple: 2250, target: 1.3 },
  spread: { what: 'many tuples of ~21 connections each (a proxy, a crawler)', perTuple: 21, target: 1.5 },
  'many-tuples': { what: 'one connection per destination (100,000 tuples of one socket)', perTuple: 1, target: 1.3 },
  'in-range-listener': { what: 'a service on :40000, in the range, with that many accepted connections', perTuple: null, target: 1.3 },
};

const USAGE = `usage: npm run bench -- [options]
  --shapes LIST    comma-separated, each NAME or NAME@SIZE (e.g. client@1M, spread@400k);
                   names: idle, ${Object.keys(SHAPES).join(', ')}
                   (default: idle,client,spread,many-tuples,in-range-listener,spread@400k)
  --sockets N      in-range sockets of a shape without @SIZE (default 100k)
  --runs N         timed runs of each command, round-robin, after one warm-up (default 7)
  --background N   also N connections to :443 with both ends outside the range (default 0)
  --check PATH     the bundle to time (default dist/check_ephemeral_ports)
  --compare PATH   another bundle to time alongside (e.g. a build of main), ratio printed`;

interface Settings {
  shapes: { name: string; size: number }[];
  runs: number;
  background: number;
  check: string;
  compare: string | null;
}

function count(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text);
  const n = m ? Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]) ? 1000 : 1_000_000) : NaN;
  if (!Number.isInteger(n) || n < 0) throw new Error(`"${text}" is not a count (e.g. 100000, 100k, 1M)\n${USAGE}`);
  return n;
}

function parseArgs(argv: string[]): Settings {
  const given: Record<string, string> = {};
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    process.exit(0);
  }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!['shapes', 'sockets', 'runs', 'background', 'check', 'compare'].includes(name) || argv[i + 1] === undefined) throw new Error(`bad option "${argv[i]}"\n${USAGE}`);
    given[name] = argv[++i];
  }
  const sockets = count(given.sockets ?? '100k');
  const shapes = (given.shapes ?? 'idle,client,spread,many-tuples,in-range-listener,spread@400k').split(',').map((spec) => {
    const [name, size] = spec.split('@');
    if (name !== 'idle' && !(name in SHAPES)) throw new Error(`unknown shape "${name}"\n${USAGE}`);
    return { name, size: name === 'idle' ? 0 : size === undefined ? sockets : count(size) };
  });
  const runs = count(given.runs ?? '7');
  if (runs < 1) throw new Error('--runs must be at least 1');
  return { shapes, runs, background: count(given.background ?? '0'), check: given.check ?? join(ROOT, 'dist', 'check_ephemeral_ports'), compare: given.compare ?? null };
}



interface Figures {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** CPU ms (user + system, children included), median over the runs. */
  readonly cpu: number;
  /** MiB, median over the runs. */
  readonly rss: number;
  /** Minor page faults (children included), median over the runs: the steadiest figure here. */
  readonly faults: number;
}

/** What one shape's namespace reports back to the parent. */
interface ShapeResult {
  readonly shape: string;
  readonly size: number;
  readonly built: string;
  readonly inRange: number;
  readonly total: number;
  readonly tuples: number;
  readonly firstLine: string;
  readonly load: { before: string; after: string };
  /** TCP sockets allocated machine-wide (all namespaces), when the timing began. */
  readonly machine: number;
  readonly figures: Record<string, Figures>;
}

function sh(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/**
 * TCP sockets allocated on the whole machine, every namespace's: each listing walks them all
 * (the socket hash is shared), so others' sockets slow even an empty namespace's ss.
 */
function machineSockets(): number {
  return Number(/TCP: .*\balloc (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1] ?? NaN);
}



/** Round-robin: A B C A B C ..., after one untimed warm-up of each (page cache, ss binary). */
function timeRoundRobin(commands: readonly Command[], runs: number): Record<string, Figures> {
  const samples = commands.map(() => [] as Sample[]);
  for (const c of commands) measure(c.argv);
  for (let run = 0; run < runs; run++) {
    commands.forEach((c, i) => {
      const sample = measure(c.argv);
      // Every shape here is OK for the check: anything else (UNKNOWN: a timeout) is no figure.
      if (sample.exit !== 0) throw new Error(`${c.name} exited with ${sample.exit}`);
      samples[i].push(sample);
    });
  }
  const figures: Record<string, Figures> = {};
  commands.forEach((c, i) => {
    const walls = samples[i].map((s) => s.wallMs);
    figures[c.name] = { median: median(walls), min: Math.min(...walls), max: Math.max(...walls), cpu: median(samples[i].map((s) => s.cpuMs)), rss: median(samples[i].map((s) => s.maxRssKiB)) / 1024, faults: median(samples[i].map((s) => s.minorFaults)) };
  });
  return figures;
}

// ---- inside a shape's namespace -------------------------------------------------------

const holders: ChildProcess[] = [];

function startHolder(args: string[]): Promise<number> {
  const child = spawn('python3', [HOLDER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`holder ${args.join(' ')} exited with ${code}`)));
  });
}

async function stopHolders(): Promise<void> {
  await Promise.all(
    holders.map(
      (h) =>
        new Promise<void>((resolve) => {
          if (h.exitCode !== null || h.signalCode !== null) return resolve();
          h.once('exit', () => resolve());
          h.kill('SIGKILL');
        }),
    ),
  );
}

/** Holders building at once: more would only crowd a shared machine's CPUs. */
const BUILDING_AT_ONCE = 4;

/** Holders for `size` in-range sockets of the shape, plus the background; returns a description. */
async function build(name: string, size: number, background: number): Promise<string> {
  const started = Date.now();
  const kind = SHAPES[name];
  const jobs: string[][] = [];
  let index = 0;
  for (let left = size; left > 0; left -= PER_HOLDER, index++) {
    const n = String(Math.min(PER_HOLDER, left));
    jobs.push(kind.perTuple === null ? ['in', String(index + 1), n, '40000'] : ['out', String(index), n, String(kind.perTuple)]);
  }
  // The background: 127.0.2.101 upwards, apart from the in-range listener's holders.
  for (let i = 0, left = background; left > 0; i++, left -= PER_HOLDER) jobs.push(['in', String(101 + i), String(Math.min(PER_HOLDER, left)), '443']);
  let made = 0;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const n = await startHolder(jobs[next++]);
      made += n;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BUILDING_AT_ONCE, jobs.length) }, worker));
  return `${made} connections (${2 * made} sockets) from ${jobs.length} holder processes in ${((Date.now() - started) / 1000).toFixed(1)} s`;
}

async function inShapeNamespace(settings: Settings, shape: { name: string; size: number }, resultFile: string): Promise<void> {
  sh('ip', ['link', 'set', 'lo', 'up']);
  writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', `${RANGE.low} ${RANGE.high}`);
  // -t 60: a check timed out under load is an UNKNOWN, not a figure (exit 3 fails the run).
  const check: Command = { name: 'check', argv: [settings.check, '-t', '60'] };
  const before = loadAverage();
  let commands: Command[];
  let built = 'nothing (an empty namespace)';
  if (shape.name === 'idle') {
    commands = [check, { name: 'check --source proc', argv: [settings.check, '-t', '60', '--source', 'proc'] }, { name: 'node -e 0', argv: [process.execPath, '-e', '0'] }];
  } else {
    built = await build(shape.name, shape.size, settings.background);
    commands = [
      check,
      { name: 'filtered ss', argv: ['ss', '-tanH', FILTER] },
      { name: 'naive ss | awk', argv: ['sh', '-c', `ss -tanH '${FILTER}' | awk '${AWK}'`] },
      { name: FLOOR_NAME, argv: [process.execPath, '-e', FLOOR] },
      { name: 'check --source proc', argv: [settings.check, '-t', '60', '--source', 'proc'] },
      { name: 'cat /proc/net/tcp*', argv: ['cat', '/proc/net/tcp', '/proc/net/tcp6'] },
    ];
  }
  if (settings.compare !== null) commands.push({ name: 'compare', argv: [settings.compare, '-t', '60'] });
  const lines = (args: string[]) => sh('sh', ['-c', `ss -tanH ${args.join(' ')} | wc -l`]).trim();
  const json = JSON.parse(sh(settings.check, ['-t', '60', '--format', 'json', '--tcp', '--top', '1'])) as { tuplesSelected: number };
  const machine = machineSockets();
  const figures = timeRoundRobin(commands, settings.runs);
  const result: ShapeResult = {
    shape: shape.name,
    size: shape.size,
    built,
    inRange: Number(lines([`'${FILTER}'`])),
    total: Number(lines([])),
    tuples: json.tuplesSelected,
    firstLine: sh(settings.check, ['-t', '60']).split('\n')[0],
    load: { before, after: loadAverage() },
    machine,
    figures,
  };
  writeFileSync(resultFile, JSON.stringify(result));
}

// ---- the parent: one namespace per shape, then the summary ------------------------------

function fmt(ms: number): string {
  return ms.toFixed(ms < 100 ? 1 : 0);
}

function printShape(r: ShapeResult, settings: Settings): void {
  const label = r.shape === 'idle' ? 'idle host' : `${r.shape} @ ${r.size.toLocaleString('en')}: ${SHAPES[r.shape].what}`;
  console.log(`\n== ${label}`);
  console.log(`   built ${r.built}; ${r.total.toLocaleString('en')} TCP sockets, ${r.inRange.toLocaleString('en')} with a local port in ${RANGE.low}-${RANGE.high}, ${r.tuples.toLocaleString('en')} tuples`);
  console.log(`   check says: ${r.firstLine}`);
  console.log(`   load average before ${r.load.before}, after ${r.load.after}; ${r.machine.toLocaleString('en')} TCP sockets on the machine, all namespaces; ${settings.runs} runs round-robin`);
  console.log(`   ${'command'.padEnd(22)} ${'median ms'.padStart(10)} ${'min-max ms'.padStart(14)} ${'CPU ms'.padStart(8)} ${'page faults'.padStart(12)} ${'peak RSS MiB'.padStart(13)}`);
  for (const [name, f] of Object.entries(r.figures)) {
    console.log(`   ${name.padEnd(22)} ${fmt(f.median).padStart(10)} ${`${fmt(f.min)}-${fmt(f.max)}`.padStart(14)} ${fmt(f.cpu).padStart(8)} ${f.faults.toFixed(0).padStart(12)} ${f.rss.toFixed(1).padStart(13)}`);
  }
  const f = r.figures;
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  // Wall time is what the targets are about; CPU time says the same with less noise from others.
  const ratio = (label: string, a: Figures, b: Figures, target: number | null, below = false) => {
    const x = a.median / b.median;
    const goal = target === null ? '' : `  (target ${below ? '<' : '≤'} ${target}: ${verdict(below ? x < target : x <= target)})`;
    console.log(`   ${label.padEnd(36)} ${x.toFixed(2).padStart(6)}${goal}; CPU ${(a.cpu / b.cpu).toFixed(2)}; page faults ${(a.faults / b.faults).toFixed(2)}`);
  };
  if (r.shape === 'idle') {
    ratio('check / node -e 0', f.check, f['node -e 0'], 1.5);
  } else {
    const big = r.shape === 'client' && r.size >= 1_000_000;
    ratio('check / filtered ss', f.check, f['filtered ss'], big ? 1.2 : SHAPES[r.shape].target);
    ratio('check / naive ss | awk', f.check, f['naive ss | awk'], 1, true);
    ratio(`check / ${FLOOR_NAME}`, f.check, f[FLOOR_NAME], null);
    ratio(`${FLOOR_NAME} / naive`, f[FLOOR_NAME], f['naive ss | awk'], null);
    ratio('check --source proc / cat', f['check --source proc'], f['cat /proc/net/tcp*'], null);
    const rssTarget = big ? 100 : 80;
    console.log(`   ${'peak RSS of the check, MiB'.padEnd(36)} ${f.check.rss.toFixed(1).padStart(6)}  (target ≤ ${rssTarget}: ${verdict(f.check.rss <= rssTarget)}); --source proc ${f['check --source proc'].rss.toFixed(1)}`);
    const perSocket = (ms: number) => ((ms * 1000) / r.inRange).toFixed(2);
    console.log(`   ${'µs per in-range socket'.padEnd(36)} check ${perSocket(f.check.median)}, filtered ss ${perSocket(f['filtered ss'].median)} (linear cost: the same at every size)`);
  }
  if (f.compare !== undefined) ratio(`check / ${settings.compare}`, f.check, f.compare, null);
}

function printSummary(results: ShapeResult[], idle: ShapeResult | undefined): void {
  console.log('\n== summary (medians; min-max in parentheses; wall ms)\n');
  console.log(`| shape | in-range sockets | tuples | check | filtered ss | naive ss \\| awk | ${FLOOR_NAME} | check / ss | check / naive | ${FLOOR_NAME} / naive | CPU: check / ss | peak RSS, MiB | load before / after |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const cell = (f: Figures) => `${fmt(f.median)} (${fmt(f.min)}-${fmt(f.max)})`;
  for (const r of results) {
    const f = r.figures;
    if (r.shape === 'idle') continue;
    console.log(`| ${r.shape} | ${r.inRange.toLocaleString('en')} | ${r.tuples.toLocaleString('en')} | ${cell(f.check)} | ${cell(f['filtered ss'])} | ${cell(f['naive ss | awk'])} | ${cell(f[FLOOR_NAME])} | ${(f.check.median / f['filtered ss'].median).toFixed(2)} | ${(f.check.median / f['naive ss | awk'].median).toFixed(2)} | ${(f[FLOOR_NAME].median / f['naive ss | awk'].median).toFixed(2)} | ${(f.check.cpu / f['filtered ss'].cpu).toFixed(2)} | ${f.check.rss.toFixed(1)} | ${r.load.before} / ${r.load.after} |`);
  }
  if (idle !== undefined) {
    const f = idle.figures;
    console.log(`| idle (empty namespace) | 0 | 0 | ${cell(f.check)} | node -e 0: ${cell(f['node -e 0'])} | | | ${(f.check.median / f['node -e 0'].median).toFixed(2)} vs node | | | ${(f.check.cpu / f['node -e 0'].cpu).toFixed(2)} vs node | ${f.check.rss.toFixed(1)} | ${idle.load.before} / ${idle.load.after} |`);
  }
}

function versions(): string {
  const ss = sh('ss', ['-V']).trim();
  return `node ${process.version}, ${ss}, kernel ${sh('uname', ['-r']).trim()}, ${sh('nproc', []).trim()} CPUs`;
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const child = process.env.BENCH_SHAPE;
  if (child !== undefined) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stopHolders().then(() => process.exit(130)));
    try {
      await inShapeNamespace(settings, JSON.parse(child), process.env.BENCH_RESULT as string);
    } finally {
      await stopHolders();
    }
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('needs root: each shape is built in a private network namespace');
  console.log(`${versions()}; peak RSS from ${measure(['true']).rssFrom}; range ${RANGE.low}-${RANGE.high}`);
  console.log(`timing ${settings.check}${settings.compare ? ` (and ${settings.compare})` : ''}; load average at start: ${loadAverage()}`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const results: ShapeResult[] = [];
  try {
    for (const shape of settings.shapes) {
      const resultFile = join(dir, `${results.length}.json`);
      // A namespace per shape: it starts empty, and its sockets (TIME_WAIT too) go with it.
      const r = spawnSync('unshare', ['--net', '--fork', '--kill-child', process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], {
        stdio: 'inherit',
        env: { ...process.env, BENCH_SHAPE: JSON.stringify(shape), BENCH_RESULT: resultFile },
      });
      if (r.status !== 0) {
        console.log(`\n== ${shape.name} @ ${shape.size}: FAILED (exit ${r.status ?? r.signal}); see above`);
        continue;
      }
      const result = JSON.parse(readFileSync(resultFile, 'utf8')) as ShapeResult;
      results.push(result);
      printShape(result, settings);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printSummary(results, results.find((x) => x.shape === 'idle'));
  console.log(`\nload average at the end: ${loadAverage()}`);
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  void stopHolders().then(() => process.exit(1));
});
