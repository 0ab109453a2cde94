/**
 * npm run bench:namespaces -- [--shape node|many|both|uniform] [--runs N] [--namespaces N] [--sockets N]
 *
 * Times `--namespaces all` on a host made on purpose, in private pid, mount and network
 * namespaces (so that /proc shows only what this benchmark starts; everything goes with
 * it). The shapes (bench/README.md):
 * - node (#25): a Kubernetes node at full size, 110 pods each with 1,000 connections to one
 *   service, plus one pod really at risk: its own range of 1,000 ports, 750 connections held.
 * - many (#25): 500 namespaces of 100 sockets each.
 * - uniform: N namespaces x N sockets (holder.py), with the listings the check competes with.
 * node and many (the default: both, one after the other) time the check as root and as
 * nobody round-robin with the floor of what any check reading every namespace's sysctls
 * must spend: one `nsenter ... sysctl` per namespace, in sequence. See bench/README.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { measure, median, type Command, type Sample } from './timing';
import { enterNamespaces } from './unshare';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');
const HOLDER = join(__dirname, 'holder.py');
const FLEET = join(__dirname, 'fleet.py');

const SHAPES = ['node', 'many', 'both', 'uniform'] as const;

interface Settings {
  shape: (typeof SHAPES)[number];
  namespaces: number;
  sockets: number;
  runs: number;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { shape: 'both', namespaces: 50, sockets: 1000, runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    const text = argv[++i];
    if (name === 'shape' && SHAPES.includes(text as Settings['shape'])) {
      s.shape = text as Settings['shape'];
      continue;
    }
    const value = Number(text);
    if (!(name in s) || name === 'shape' || !Number.isInteger(value) || value < 1) throw new Error(`usage: bench:namespaces [--shape ${SHAPES.join('|')}] [--namespaces N] [--sockets N] [--runs N] (bad "${argv[i - 1]} ${text}")`);
    (s as unknown as Record<string, number>)[name] = value;
  }
  if (s.sockets > 18_000) throw new Error('--sockets: at most 18,000 per namespace (one holder, 20,000 open files)');
  return s;
}





function timeAlternating(commands: readonly Command[], runs: number): Sample[][] {
  const timed = commands.map((command) => ({ command, samples: [] as Sample[] }));
  for (const t of timed) measure(t.command.argv); // warm up, not counted
  for (let run = 0; run < runs; run++) {
    for (const t of timed) {
      const sample = measure(t.command.argv);
      if (sample.exit > 3) throw new Error(`${t.command.name} exited with ${sample.exit}`);
      t.samples.push(sample);
    }
  }
  console.log(`  ${'command'.padEnd(58)} ${'wall ms'.padStart(9)} ${'min-max'.padStart(11)} ${'user ms'.padStart(8)} ${'kernel ms'.padStart(9)} ${'faults'.padStart(8)} ${'RSS MiB'.padStart(8)}`);
  for (const { command, samples } of timed) {
    const walls = samples.map((s) => s.wallMs);
    const spread = `${Math.min(...walls).toFixed(0)}-${Math.max(...walls).toFixed(0)}`;
    const user = median(samples.map((s) => s.userMs));
    const kernel = median(samples.map((s) => s.kernelMs));
    console.log(`  ${command.name.padEnd(58)} ${median(walls).toFixed(0).padStart(9)} ${spread.padStart(11)} ${user.toFixed(0).padStart(8)} ${kernel.toFixed(0).padStart(9)} ${median(samples.map((s) => s.minorFaults)).toFixed(0).padStart(8)} ${(median(samples.map((s) => s.maxRssKiB)) / 1024).toFixed(1).padStart(8)}`);
  }
  return timed.map((t) => t.samples);
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

/** A pod of a fleet shape: its connections, and its own range if it has one. */
interface Pod {
  readonly connections: number;
  readonly range?: { low: number; high: number };
}

interface FleetShape {
  readonly name: string;
  readonly pods: readonly Pod[];
}

/** 110 pods (the kubelet's default maximum) x 1,000 connections, plus one really at risk. */
const NODE: FleetShape = {
  name: '110 pods x 1,000 connections + 1 at risk (750 of its own 1,000 ports)',
  pods: [...Array.from({ length: 110 }, () => ({ connections: 1000 })), { connections: 750, range: { low: 40000, high: 40999 } }],
};

/** 500 namespaces x 100 sockets (50 connections, both ends). */
const MANY: FleetShape = { name: '500 namespaces x 100 sockets', pods: Array.from({ length: 500 }, () => ({ connections: 50 })) };

/** A process alone in a network namespace of its own: what makes the namespace findable in /proc. */
function startSleeper(): number {
  const child = spawn('unshare', ['-n', 'sleep', 'infinity'], { stdio: 'ignore' });
  holders.push(child);
  return child.pid!;
}

/** fleet.py filling one share of the pods' namespaces; resolves once its sockets are made. */
function fillShare(args: readonly string[]): Promise<number> {
  const child = spawn('python3', [FLEET, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /ready (\d+)/.exec(out);
      if (ready) resolve(Number(ready[1]));
    });
    child.once('exit', (code) => reject(new Error(`fleet.py exited with ${code}`)));
  });
}

/** Every pod's connections, by fleet.py processes of at most 18,000 sockets each (the open-file limit). */
async function fill(pids: readonly number[], pods: readonly Pod[]): Promise<number> {
  const shares: string[][] = [[]];
  let size = 0;
  pods.forEach((pod, i) => {
    const sockets = 2 * pod.connections + 1;
    // A pod with a range of its own gets a holder of its own, left in its namespace: its
    // sockets' owner is then one of its processes, as a real pod's is.
    if (size + sockets > 18_000 || (pod.range !== undefined && size > 0)) {
      shares.push([]);
      size = 0;
    }
    size += sockets;
    shares[shares.length - 1].push(`${pids[i]}:${pod.connections}${pod.range ? `:${pod.range.low}-${pod.range.high}` : ''}`);
  });
  let made = 0;
  // Two at a time: each makes its connections in a burst.
  for (let i = 0; i < shares.length; i += 2) made += (await Promise.all(shares.slice(i, i + 2).map(fillShare))).reduce((a, b) => a + b, 0);
  return made;
}

/** Waits until a new namespace's loopback is made (unshare has exec'd sleep). */
async function settled(pids: readonly number[]): Promise<void> {
  const own = statSync('/proc/self/ns/net').ino;
  for (const pid of pids) {
    while (statSync(`/proc/${pid}/ns/net`).ino === own || !readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('sleep')) await new Promise((r) => setTimeout(r, 5));
  }
}

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'];
const SYSCTLS = ['ip_local_port_range', 'ip_local_reserved_ports', 'tcp_tw_reuse', 'tcp_tw_reuse_delay', 'tcp_timestamps'].map((n) => `net.ipv4.${n}`);

interface AcrossJson {
  status: string;
  summary: string;
  namespaces: { inode: number | null; reading?: string; settings: string }[];
  unchecked: unknown[];
  tuples: { netns: number | null; status: string; remaining: number }[];
}

function checkJson(prefix: readonly string[], args: readonly string[]): AcrossJson {
  const r = spawnSync(prefix.length > 0 ? prefix[0] : BUNDLE, [...prefix.slice(1), ...(prefix.length > 0 ? [BUNDLE] : []), '--namespaces', 'all', '--format', 'json', ...args], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  return JSON.parse(r.stdout) as AcrossJson;
}

function describeRun(who: string, json: AcrossJson, atRisk: number | null): string {
  const listed = json.namespaces.filter((n) => n.reading !== 'bounded').length;
  const bounded = json.namespaces.length - listed;
  const worst = json.tuples[0];
  const at = worst === undefined ? 'no tuple listed' : `worst tuple ${worst.netns === atRisk && atRisk !== null ? "the at-risk pod's" : `in netns ${worst.netns}`} (${worst.status}, ${worst.remaining} left)`;
  const assumed = json.namespaces.filter((n) => n.settings === 'assumed').length;
  return `  ${who}, -t 8: ${json.status}: ${listed} listed, ${bounded} bounded, ${json.unchecked.length} not checked, ${assumed} with settings assumed; ${at}\n    | ${json.summary}`;
}

async function fleet(shape: FleetShape, runs: number): Promise<void> {
  const started = Date.now();
  const pids = shape.pods.map(() => startSleeper());
  await settled(pids);
  const sockets = await fill(pids, shape.pods);
  const atRiskAt = shape.pods.findIndex((p) => p.range !== undefined);
  const atRisk = atRiskAt === -1 ? null : statSync(`/proc/${pids[atRiskAt]}/ns/net`).ino;
  console.log(`\n${shape.name}: built ${shape.pods.length} namespaces, ${sockets} sockets, in ${((Date.now() - started) / 1000).toFixed(1)} s; load average ${sh('cat', ['/proc/loadavg']).trim()}`);
  console.log(describeRun('as root', checkJson([], []), atRisk));
  console.log(describeRun('as nobody', checkJson(NOBODY, []), atRisk));
  // What the same run costs listing every namespace, as before the bound: once, -t 60.
  const all = measure([BUNDLE, '--namespaces', 'all', '--walk', 'all', '-t', '60']);
  console.log(`  as root, --walk all -t 60 (every namespace listed), once: wall ${all.wallMs.toFixed(0)} ms, user ${all.userMs.toFixed(0)} ms, kernel ${all.kernelMs.toFixed(0)} ms, peak RSS ${(all.maxRssKiB / 1024).toFixed(1)} MiB`);
  const floor = `for p in ${pids.join(' ')}; do nsenter --net=/proc/$p/ns/net -- sysctl -e ${SYSCTLS.join(' ')} >/dev/null; done`;
  const commands: Command[] = [
    { name: 'check --namespaces all, as root', argv: [BUNDLE, '--namespaces', 'all'] },
    { name: 'check --namespaces all, as nobody', argv: [...NOBODY, BUNDLE, '--namespaces', 'all'] },
    { name: `floor: ${shape.pods.length} x nsenter sysctl, in sequence`, argv: ['sh', '-c', floor] },
    { name: `Node's floor: node spawning them, ${sh('nproc', []).trim()} at a time`, argv: [process.execPath, join(__dirname, 'sysctl-floor.js'), ...pids.map(String)] },
  ];
  const samples = timeAlternating(commands, runs);
  const floorWall = median(samples[2].map((x) => x.wallMs));
  const ratio = (i: number) => (median(samples[i].map((x) => x.wallMs)) / floorWall).toFixed(2);
  const rss = Math.max(...samples.slice(0, 2).flatMap((list) => list.map((x) => x.maxRssKiB))) / 1024;
  console.log(`  wall against the floor: root ${ratio(0)}x (target <= 1.2), nobody ${ratio(1)}x (target <= 1.0), Node's floor ${ratio(3)}x; peak RSS of the check ${rss.toFixed(1)} MiB (target <= 100)`);
  console.log(`  load average after: ${sh('cat', ['/proc/loadavg']).trim()}`);
  await stopHolders();
  holders.length = 0;
}

async function inNamespaces(s: Settings): Promise<void> {
  sh('ip', ['link', 'set', 'lo', 'up']);
  // Names others bound under /run/netns are not ours to count (nor, with no process in
  // them, cheap to read): a private, empty /run/netns in this mount namespace.
  if (existsSync('/run/netns')) sh('mount', ['-t', 'tmpfs', 'bench-netns', '/run/netns']);
  console.log(`node ${process.version}, ${sh('ss', ['-V']).trim()}, kernel ${sh('uname', ['-r']).trim()}, ${sh('nproc', []).trim()} CPUs`);
  if (s.shape !== 'uniform') {
    if (s.shape !== 'many') await fleet(NODE, s.runs);
    if (s.shape !== 'node') await fleet(MANY, s.runs);
    return;
  }
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
  if (process.env.BENCH_IN_NAMESPACE !== '1') enterNamespaces(__filename, 'bench:namespaces: needs root (namespaces full of sockets)');
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
