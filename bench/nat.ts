/**
 * npm run bench:nat -- [--entries N] [--runs N] [--compare PATH]
 *
 * Times --nat on a NAT gateway's conntrack table made on purpose: in private pid, mount and
 * network namespaces (everything goes with them), `conntrack -R` loads N masqueraded
 * entries (10.1.x.y -> DESTINATION, translated to 10.2.0.1), spread over 100 and then over
 * 10,000 destinations, with an nft masquerade rule to read. Round-robin over several runs
 * it times the check with each conntrack reader (--source proc: /proc/net/nf_conntrack;
 * --source ss: the conntrack program) against what it competes with: `conntrack -L | wc -l`
 * and `cat /proc/net/nf_conntrack | wc -l`. Entries need no traffic: conntrack -I/-R
 * inserts them as given. With --compare, another bundle (e.g. a build of the branch before a
 * change) is timed alongside, in the same rounds, so that load falls on both alike. See
 * bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, median, type Command, type Sample } from './timing';
import { enterNamespaces } from './unshare';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'check_ephemeral_ports');

/**
 * The floor of any check in Node: start node, read the table as the check does (one buffer,
 * synchronous reads), parse nothing. What the check adds is the rest.
 */
const FLOOR_NAME = 'node reading it, parsing nothing';
const FLOOR = "const fs=require('fs');const b=Buffer.alloc(262144);const fd=fs.openSync('/proc/net/nf_conntrack','r');while(fs.readSync(fd,b,0,b.length)>0);";

interface Settings {
  entries: number;
  runs: number;
  /** Another bundle timed alongside. */
  compare: string | null;
}

function parseArgs(argv: string[]): Settings {
  const s: Settings = { entries: 100_000, runs: 5, compare: null };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    const text = argv[++i];
    const bad = () => new Error(`usage: bench:nat [--entries N] [--runs N] [--compare PATH] (bad "${argv[i - 1]} ${text}")`);
    if (name === 'compare') {
      if (text === undefined) throw bad();
      s.compare = text;
      continue;
    }
    const value = Number(text);
    if ((name !== 'entries' && name !== 'runs') || !Number.isInteger(value) || value < 1) throw bad();
    s[name] = value;
  }
  if (s.entries > 200_000) throw new Error('--entries: at most 200,000 (nf_conntrack_max is shared by every namespace)');
  return s;
}

function run(argv: string[], input?: string): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * conntrack -R lines: entry k goes to destination k % destinations, from a client address
 * and port of its own, translated to 10.2.0.1 on a port unique within its destination.
 */
function load(entries: number, destinations: number, dir: string): void {
  const lines: string[] = [];
  for (let k = 0; k < entries; k++) {
    const d = k % destinations;
    const destination = `10.3.${d >> 8}.${d & 255}`;
    const natPort = 1024 + Math.floor(k / destinations);
    lines.push(`-I -p tcp -s 10.1.${(k >> 8) & 255}.${k & 255} -d ${destination} --sport ${10000 + (k >> 16)} --dport 5432 -r ${destination} -q 10.2.0.1 --reply-port-src 5432 --reply-port-dst ${natPort} --state ESTABLISHED -t 86400 -u ASSURED`);
  }
  const file = join(dir, 'entries');
  writeFileSync(file, `${lines.join('\n')}\n`);
  run(['conntrack', '-F']);
  run(['conntrack', '-R', file]);
  const loaded = Number(run(['sh', '-c', 'wc -l < /proc/net/nf_conntrack']).trim());
  if (loaded !== entries) throw new Error(`loaded ${loaded} entries, not ${entries}`);
}

function timeAlternating(commands: readonly Command[], runs: number): Map<string, Sample[]> {
  const timed = commands.map((command) => ({ command, samples: [] as Sample[] }));
  for (const t of timed) measure(t.command.argv); // warm up, not counted
  for (let i = 0; i < runs; i++) {
    for (const t of timed) {
      const sample = measure(t.command.argv);
      if (sample.exit > 3) throw new Error(`${t.command.name} exited with ${sample.exit}`);
      t.samples.push(sample);
    }
  }
  return new Map(timed.map((t) => [t.command.name, t.samples]));
}

function main(): void {
  if (process.env.BENCH_IN_NAMESPACE !== '1') enterNamespaces(__filename, 'bench:nat: needs root (a conntrack table of its own)');
  const settings = parseArgs(process.argv.slice(2));
  run(['ip', 'link', 'set', 'lo', 'up']);
  run(['nft', '-f', '-'], 'table ip nat {\n  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "out" meta l4proto tcp masquerade\n  }\n}\n');
  const dir = mkdtempSync(join(tmpdir(), 'bench-nat-'));
  const commands: Command[] = [
    { name: 'check --nat --source proc', argv: [BUNDLE, '--nat', '--tcp', '--source', 'proc'] },
    { name: 'cat /proc/net/nf_conntrack | wc -l', argv: ['sh', '-c', 'cat /proc/net/nf_conntrack | wc -l'] },
    { name: FLOOR_NAME, argv: [process.execPath, '-e', FLOOR] },
    { name: 'check --nat --source ss', argv: [BUNDLE, '--nat', '--tcp', '--source', 'ss'] },
    { name: 'conntrack -L | wc -l', argv: ['sh', '-c', 'conntrack -L -o extended 2>/dev/null | wc -l'] },
  ];
  const compared = settings.compare === null ? [] : [
    { name: 'compare --nat --source proc', argv: [settings.compare, '--nat', '--tcp', '--source', 'proc'] },
    { name: 'compare --nat --source ss', argv: [settings.compare, '--nat', '--tcp', '--source', 'ss'] },
  ];
  commands.push(...compared);
  console.log(`timing ${BUNDLE}${settings.compare === null ? '' : ` and ${settings.compare}`}; load average at start: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`);
  const rows: string[] = [];
  try {
    for (const destinations of [100, 10_000]) {
      load(settings.entries, destinations, dir);
      const summary = run([BUNDLE, '--nat', '--tcp', '--source', 'proc']).split('\n')[0];
      const samples = timeAlternating(commands, settings.runs);
      const wall = (name: string) => median(samples.get(name)!.map((s) => s.wallMs));
      const cpu = (name: string) => median(samples.get(name)!.map((s) => s.cpuMs));
      const rss = (name: string) => Math.max(...samples.get(name)!.map((s) => s.maxRssKiB)) / 1024;
      console.log(`\n${settings.entries.toLocaleString('en')} entries over ${destinations.toLocaleString('en')} destinations (${settings.runs} runs, medians): ${summary}`);
      console.log(`  ${'command'.padEnd(36)} ${'wall ms'.padStart(9)} ${'CPU ms'.padStart(8)} ${'peak RSS MiB'.padStart(13)}`);
      for (const c of commands) console.log(`  ${c.name.padEnd(36)} ${wall(c.name).toFixed(0).padStart(9)} ${cpu(c.name).toFixed(0).padStart(8)} ${rss(c.name).toFixed(1).padStart(13)}`);
      const ratioProc = wall(commands[0].name) / wall(commands[1].name);
      const ratioProgram = wall(commands[3].name) / wall(commands[4].name);
      const ratioFloor = wall(FLOOR_NAME) / wall(commands[1].name);
      const worstRss = Math.max(rss(commands[0].name), rss(commands[3].name));
      if (settings.compare !== null) console.log(`  check / compare: --source proc ${(wall(commands[0].name) / wall(compared[0].name)).toFixed(2)}x wall, ${(cpu(commands[0].name) / cpu(compared[0].name)).toFixed(2)}x CPU; --source ss ${(wall(commands[3].name) / wall(compared[1].name)).toFixed(2)}x wall, ${(cpu(commands[3].name) / cpu(compared[1].name)).toFixed(2)}x CPU; load average now ${loadavg().map((l) => l.toFixed(2)).join(', ')}`);
      console.log(`  check / cat ${ratioProc.toFixed(2)}x (the floor: ${ratioFloor.toFixed(2)}x), check / conntrack -L ${ratioProgram.toFixed(2)}x (target ≤ 1.3x); peak RSS ${worstRss.toFixed(1)} MiB (target ≤ 80)`);
      rows.push(`| ${settings.entries.toLocaleString('en')} over ${destinations.toLocaleString('en')} | ${wall(commands[0].name).toFixed(0)} | ${wall(commands[1].name).toFixed(0)} | ${ratioProc.toFixed(2)}x | ${wall(FLOOR_NAME).toFixed(0)} (${ratioFloor.toFixed(2)}x) | ${wall(commands[3].name).toFixed(0)} | ${wall(commands[4].name).toFixed(0)} | ${ratioProgram.toFixed(2)}x | ${worstRss.toFixed(1)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\n| entries | check, /proc (ms) | cat \\| wc -l | ratio | floor (node reading it) | check, conntrack (ms) | conntrack -L \\| wc -l | ratio | peak RSS, MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
}

main();
