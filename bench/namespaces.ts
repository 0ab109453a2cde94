/**
 * npm run bench:namespaces -- [--namespaces N] [--sockets N] [--runs N]
 *
 * Times `--namespaces all` on a host made on purpose: in private pid, mount and network
 * namespaces (so that /proc shows only what this benchmark starts; everything goes with
 * it), N network namespaces each hold a process with N sockets (holder.py: connections on
 * loopback from connect()-chosen ports to a listener of its own, two sockets each). Then,
 * round-robin over several runs, it times the check with each source, the owner lookup,
 * and what the check competes with: one filtered ss per namespace through nsenter, one
 * after the other (a shell loop), and `cat` of every namespace's tables. See bench/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { measure, median, type Command, type Sample } from './timing';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');
const HOLDER = join(__dirname, 'holder.py');

interface Settings {
  namespaces: number;
  sockets: number;
  runs: number;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { namespaces: 50, sockets: 1000, runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '') as keyof Settings;
    const value = Number(argv[++i]);
    if (!(name in s) || !Number.isInteger(value) || value < 1) throw new Error(`usage: bench:namespaces [--namespaces N] [--sockets N] [--runs N] (bad "${argv[i - 1]} ${argv[i]}")`);
    s[name] = value;
  }
  if (s.sockets > 18_000) throw new Error('--sockets: at most 18,000 per namespace (one holder, 20,000 open files)');
  return s;
}

/** Re-runs this file as pid 1 of private pid, mount and network namespaces. */
function enterNamespaces(): never {
  if (process.getuid?.() !== 0) {
    console.error('bench:namespaces: needs root (namespaces full of sockets)');
    process.exit(2);
  }
  const r = spawnSync('unshare', ['--net', '--pid', '--mount', '--fork', '--mount-proc', '--kill-child', process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_IN_NAMESPACE: '1' },
  });
  process.exit(r.status ?? 1);
}





function timeAlternating(commands: readonly Command[], runs: number): void {
  const timed = commands.map((command) => ({ command, samples: [] as Sample[] }));
  for (const t of timed) measure(t.command.argv); // warm up, not counted
  for (let run = 0; run < runs; run++) {
    for (const t of timed) {
      const sample = measure(t.command.argv);
      if (sample.exit > 3) throw new Error(`${t.command.name} exited with ${sample.exit}`);
      t.samples.push(sample);
    }
  }
  console.log(`  ${'command'.padEnd(58)} ${'wall ms'.padStart(9)} ${'min-max'.padStart(11)} ${'CPU ms'.padStart(8)} ${'faults'.padStart(8)} ${'RSS MiB'.padStart(8)}`);
  for (const { command, samples } of timed) {
    const walls = samples.map((s) => s.wallMs);
    const spread = `${Math.min(...walls).toFixed(0)}-${Math.max(...walls).toFixed(0)}`;
    const cpu = median(samples.map((s) => s.cpuMs));
    console.log(`  ${command.name.padEnd(58)} ${median(walls).toFixed(0).padStart(9)} ${spread.padStart(11)} ${cpu.toFixed(0).padStart(8)} ${median(samples.map((s) => s.minorFaults)).toFixed(0).padStart(8)} ${(median(samples.map((s) => s.maxRssKiB)) / 1024).toFixed(1).padStart(8)}`);
  }
}

function sh(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const holders: ChildProcess[] = [];

/** A holder in a network namespace of its own: its pid, once its sockets are made. */
function startHolder(connections: number): Promise<number> {
  const child = spawn('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec python3 ${HOLDER} out 0 ${connections} 4`], { stdio: ['pipe', 'pipe', 'inherit'] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/ready \d+/.test(out)) resolve(child.pid!);
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
}

async function stopHolders(): Promise<void> {
  await Promise.all(holders.map((h) => new Promise<void>((resolve) => {
    if (h.exitCode !== null || h.signalCode !== null) return resolve();
    h.once('exit', () => resolve());
    h.kill('SIGKILL');
  })));
}

async function inNamespaces(s: Settings): Promise<void> {
  sh('ip', ['link', 'set', 'lo', 'up']);
  console.log(`node ${process.version}, ${sh('ss', ['-V']).trim()}, kernel ${sh('uname', ['-r']).trim()}, ${sh('nproc', []).trim()} CPUs`);
  const started = Date.now();
  const pids: number[] = [];
  // A few at a time: each holder makes its connections in a burst.
  for (let i = 0; i < s.namespaces; i += 4) {
    pids.push(...(await Promise.all(Array.from({ length: Math.min(4, s.namespaces - i) }, () => startHolder(s.sockets / 2)))));
  }
  console.log(`built ${s.namespaces} namespaces x ${s.sockets} sockets in ${((Date.now() - started) / 1000).toFixed(1)} s; load average ${sh('cat', ['/proc/loadavg']).trim()}`);
  console.log(`  | ${sh(BUNDLE, ['--namespaces', 'all', '-t', '60']).split('\n')[0]}`);
  // Within the default -t 8: how many are read in time (the rest are reported as not checked).
  const inTime = JSON.parse(spawnSync(BUNDLE, ['--namespaces', 'all', '--format', 'json'], { encoding: 'utf8' }).stdout) as { status: string; namespaces: unknown[]; unchecked: unknown[] };
  console.log(`  with the default -t 8: ${inTime.status}, ${inTime.namespaces.length} namespaces checked, ${inTime.unchecked.length} not checked in time`);

  const filter = "'( sport >= :32768 and sport <= :60999 )'";
  const list = pids.join(' ');
  const commands: Command[] = [
    { name: `check --namespaces all (ss through nsenter)`, argv: [BUNDLE, '--namespaces', 'all', '-t', '60'] },
    { name: `check --namespaces all --source proc`, argv: [BUNDLE, '--namespaces', 'all', '--source', 'proc', '-t', '60'] },
    { name: `check --namespaces all --owners (5 tuples)`, argv: [BUNDLE, '--namespaces', 'all', '--owners', '-t', '60'] },
    { name: `check, own namespace only (empty)`, argv: [BUNDLE] },
    { name: `${s.namespaces} x nsenter ss -tuanH (filtered), one by one`, argv: ['sh', '-c', `for p in ${list}; do nsenter --net=/proc/$p/ns/net ss -tuanH ${filter}; done`] },
    { name: `cat /proc/PID/net/{tcp,tcp6,udp,udp6} of the ${s.namespaces}`, argv: ['sh', '-c', `for p in ${list}; do cat /proc/$p/net/tcp /proc/$p/net/tcp6 /proc/$p/net/udp /proc/$p/net/udp6; done`] },
  ];
  console.log(`\n${s.namespaces} namespaces x ${s.sockets} sockets, ${s.runs} runs, round-robin`);
  timeAlternating(commands, s.runs);
  console.log(`load average after: ${sh('cat', ['/proc/loadavg']).trim()}`);
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  if (process.env.BENCH_IN_NAMESPACE !== '1') enterNamespaces();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stopHolders().then(() => process.exit(130)));
  try {
    await inNamespaces(settings);
  } finally {
    await stopHolders();
  }
}

main().catch((err: unknown) => {
  console.error(`bench:namespaces: ${err instanceof Error ? err.message : String(err)}`);
  void stopHolders().then(() => process.exit(1));
});
