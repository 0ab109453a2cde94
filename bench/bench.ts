/**
 * npm run bench -- [--outbound N] [--inbound N] [--runs N] [--sources N]
 *
 * Times the committed bundle on a busy host made on purpose: in a private network
 * namespace (loopback only, gone when the benchmark ends), holder processes open
 *   - N outbound connections from 127.0.1.x to listeners of their own outside the range
 *     (client ports from connect(): in the range, spread over many tuples), and
 *   - N inbound connections to :443 listeners, their clients bound below the range
 * (two sockets per connection). Then, round-robin over several runs, it times the check
 * with each source against the filtered `ss -tanH` and `cat` of the tables it competes
 * with, and `node -e 0`; medians, ratios and peak RSS (wait4) are printed. See README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');
const HOLDER = join(__dirname, 'holder.py');
const MEASURE = join(__dirname, 'measure.py');
const PER_HOLDER = 9000; // two descriptors per connection, under the 20,000 open files allowed

interface Settings {
  outbound: number;
  inbound: number;
  runs: number;
  sources: number;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { outbound: 100_000, inbound: 100_000, runs: 7, sources: 4 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '') as keyof Settings;
    const value = Number(argv[++i]);
    if (!(name in s) || !Number.isInteger(value) || value < 0) throw new Error(`usage: bench [--outbound N] [--inbound N] [--runs N] [--sources N] (bad "${argv[i - 1]} ${argv[i]}")`);
    s[name] = value;
  }
  if (s.runs < 1 || s.sources < 1 || s.sources > 254) throw new Error('--runs and --sources (1-254) must be at least 1');
  return s;
}

/** Re-runs this file inside a fresh network namespace; --kill-child: nothing outlives us. */
function enterNamespace(): never {
  if (process.getuid?.() !== 0) {
    console.error('bench: needs root (a private network namespace full of sockets)');
    process.exit(2);
  }
  const r = spawnSync('unshare', ['--net', '--fork', '--kill-child', process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_IN_NAMESPACE: '1' },
  });
  process.exit(r.status ?? 1);
}

interface Sample {
  wallMs: number;
  maxRssKiB: number;
  exit: number;
  rssFrom: string;
}

function measure(argv: readonly string[]): Sample {
  const r = spawnSync('python3', [MEASURE, '--', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`measure ${argv.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

interface Command {
  readonly name: string;
  readonly argv: readonly string[];
}

interface Timed {
  readonly command: Command;
  readonly samples: Sample[];
}

/** Round-robin: A B C A B C ..., so load from elsewhere falls on every command alike. */
function timeAlternating(commands: readonly Command[], runs: number): Timed[] {
  const timed = commands.map((command) => ({ command, samples: [] as Sample[] }));
  for (const t of timed) measure(t.command.argv); // warm the page cache, not counted
  for (let run = 0; run < runs; run++) {
    for (const t of timed) {
      const sample = measure(t.command.argv);
      if (sample.exit > 3) throw new Error(`${t.command.name} exited with ${sample.exit}`);
      t.samples.push(sample);
    }
  }
  return timed;
}

function report(title: string, timed: readonly Timed[]): Map<string, { wall: number; rss: number }> {
  const medians = new Map<string, { wall: number; rss: number }>();
  console.log(`\n${title}`);
  console.log(`  ${'command'.padEnd(44)} ${'median ms'.padStart(10)} ${'min-max ms'.padStart(15)} ${'peak RSS MiB'.padStart(13)}`);
  for (const { command, samples } of timed) {
    const walls = samples.map((s) => s.wallMs);
    const wall = median(walls);
    const rss = median(samples.map((s) => s.maxRssKiB)) / 1024;
    medians.set(command.name, { wall, rss });
    const spread = `${Math.min(...walls).toFixed(0)}-${Math.max(...walls).toFixed(0)}`;
    console.log(`  ${command.name.padEnd(44)} ${wall.toFixed(1).padStart(10)} ${spread.padStart(15)} ${rss.toFixed(1).padStart(13)}`);
  }
  return medians;
}

function ratio(label: string, a: number, b: number, target: number): void {
  const r = a / b;
  console.log(`  ${label.padEnd(44)} ${r.toFixed(2).padStart(10)}  (target ≤ ${target}: ${r <= target ? 'met' : 'MISSED'})`);
}

function sh(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

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

async function buildSockets(s: Settings): Promise<void> {
  const started = Date.now();
  const jobs: Promise<number>[] = [];
  for (let i = 0, left = s.outbound; left > 0; i++, left -= PER_HOLDER) jobs.push(startHolder(['out', String(i), String(Math.min(PER_HOLDER, left)), String(s.sources)]));
  for (let i = 1, left = s.inbound; left > 0; i++, left -= PER_HOLDER) jobs.push(startHolder(['in', String(i), String(Math.min(PER_HOLDER, left))]));
  const made = (await Promise.all(jobs)).reduce((a, b) => a + b, 0);
  console.log(`built ${made} connections (${2 * made} sockets) with ${jobs.length} holder processes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function inNamespace(s: Settings): Promise<void> {
  sh('ip', ['link', 'set', 'lo', 'up']);
  const [low, high] = sh('cat', ['/proc/sys/net/ipv4/ip_local_port_range']).trim().split(/\s+/);
  const filter = `( sport >= :${low} and sport <= :${high} )`;
  const check: Command = { name: 'check (default source: auto = ss)', argv: [BUNDLE] };
  const checkProc: Command = { name: 'check --source proc', argv: [BUNDLE, '--source', 'proc'] };
  const ss: Command = { name: `ss -tanH '( sport >= :${low} ... :${high} )'`, argv: ['ss', '-tanH', filter] };
  const cat: Command = { name: 'cat /proc/net/tcp /proc/net/tcp6', argv: ['cat', '/proc/net/tcp', '/proc/net/tcp6'] };
  const node0: Command = { name: 'node -e 0', argv: [process.execPath, '-e', '0'] };
  console.log(`node ${process.version}, ${sh('ss', ['-V']).trim()}, kernel ${sh('uname', ['-r']).trim()}, ${sh('nproc', []).trim()} CPUs, range ${low}-${high}`);
  console.log(`peak RSS from ${measure(['true']).rssFrom}; load average before: ${sh('cat', ['/proc/loadavg']).trim()}`);

  const idle = report(`idle host (empty namespace), ${s.runs} runs, round-robin`, timeAlternating([check, checkProc, node0], s.runs));

  await buildSockets(s);
  const count = (args: string) => Number(sh('sh', ['-c', `ss -tanH ${args} | wc -l`]).trim());
  const total = count('');
  const inRange = count(`'${filter}'`);
  console.log(`host: ${total} TCP sockets, ${inRange} of them with a local port in the range`);
  console.log(sh(BUNDLE, ['-v']).split('\n').slice(0, 3).map((l) => `  | ${l}`).join('\n'));
  const busy = report(`busy host: ${total} TCP sockets, ${inRange} in range; ${s.runs} runs, round-robin`, timeAlternating([check, ss, checkProc, cat, node0], s.runs));

  console.log('\nratios of medians');
  const at = (m: Map<string, { wall: number; rss: number }>, c: Command) => m.get(c.name) as { wall: number; rss: number };
  ratio('check (ss) / filtered ss', at(busy, check).wall, at(busy, ss).wall, 1.3);
  ratio('check --source proc / cat of the tables', at(busy, checkProc).wall, at(busy, cat).wall, 1.3);
  ratio('idle check / node -e 0', at(idle, check).wall, at(idle, node0).wall, 1.5);
  const rss = at(busy, check).rss;
  console.log(`  ${'peak RSS of the check (ss source), MiB'.padEnd(44)} ${rss.toFixed(1).padStart(10)}  (target ≤ 80: ${rss <= 80 ? 'met' : 'MISSED'})`);
  console.log(`  ${'peak RSS of the check (proc source), MiB'.padEnd(44)} ${at(busy, checkProc).rss.toFixed(1).padStart(10)}`);
  console.log(`load average after: ${sh('cat', ['/proc/loadavg']).trim()}`);
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  if (process.env.BENCH_IN_NAMESPACE !== '1') enterNamespace();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stopHolders().then(() => process.exit(130)));
  try {
    await inNamespace(settings);
  } finally {
    const started = Date.now();
    await stopHolders();
    console.log(`\nholders stopped in ${((Date.now() - started) / 1000).toFixed(1)} s; the namespace goes with this process`);
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  void stopHolders().then(() => process.exit(1));
});
