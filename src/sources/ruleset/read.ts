/**
 * Reads a namespace's source NAT rules (rules.ts) as root, through the trusted-program gate:
 * nft's JSON, iptables-nft-save where nft shows iptables targets, and iptables-legacy-save
 * where the legacy nat table exists (its names file lists it: running the program without
 * one would make the kernel load the legacy modules). Listing changes nothing.
 *
 * What cannot be read is said, never an error: a pool then takes the kernel's default
 * class, as assumed.
 */
import { KernelError } from '../../host/errors';
import { programOutput } from '../../host/helpers';
import type { Host } from '../../host/host';
import type { NamespaceReading } from '../../model/reading';
import { parseIptablesSave, parseNftRuleset, type NatRule } from './rules';

export const NFT_PATHS: readonly string[] = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'];
const saveProgram = (name: string): readonly string[] => [`/usr/sbin/${name}`, `/sbin/${name}`];

/** The most of a program's output kept: kube-proxy's nat table can run to megabytes. */
const OUTPUT_MAX = 64 << 20;

export interface RulesRead {
  /** The rules found; null when no ruleset could be read at all. */
  readonly rules: NatRule[] | null;
  /** What was read ("nft", "iptables-legacy-save"...), and what could not be, and why. */
  readonly read: readonly string[];
  readonly unread: readonly string[];
}

/** A program's stdout as text, or a KernelError saying why not. */
async function output(host: Host, paths: readonly string[], args: string[], signal: AbortSignal): Promise<string> {
  if (host.spawn === undefined || host.findProgram === undefined) throw new KernelError(paths[0], 'this host cannot run programs');
  const program = host.findProgram(paths);
  // iptables' programs are links to one multi-call binary (xtables-nft-multi), which reads
  // its applet from argv[0]: the gate hands us the real file, so name the applet first.
  const applet = /\/xtables-[a-z]+-multi$/.test(program) ? [paths[0].slice(paths[0].lastIndexOf('/') + 1).replace(/-(nft|legacy)-save$/, '-save')] : [];
  const child = await host.spawn(program, [...applet, ...args], signal);
  if (child === undefined) throw new KernelError(program, 'cannot be run');
  return programOutput(child, program, OUTPUT_MAX);
}

/**
 * Whether the running kernel has a netfilter module loaded or built in. A netlink request
 * to a subsystem the kernel lacks makes it load the module (nfnetlink's request_module), as
 * running iptables-legacy-save loads the legacy tables: the check changes nothing, so it
 * asks only what is there. A kernel without modules (no /proc/modules) has all it will have.
 */
export async function kernelHas(host: Host, module: string): Promise<boolean> {
  const loaded = await host.readText('/proc/modules').catch(() => undefined);
  if (loaded === undefined) return true;
  if (loaded.split('\n').some((line) => line.startsWith(`${module} `))) return true;
  const release = (await host.readText('/proc/sys/kernel/osrelease').catch(() => undefined))?.trim();
  if (release === undefined || !/^[\w.+-]+$/.test(release)) return false;
  const builtin = await host.readText(`/lib/modules/${release}/modules.builtin`).catch(() => undefined);
  return builtin !== undefined && builtin.split('\n').some((line) => line.endsWith(`/${module}.ko`));
}

/**
 * reading.procRoot is where the namespace's legacy tables are named; for another
 * namespace, reading.host must run its programs inside it (nsenter).
 */
export async function readNatRules({ host, procRoot, signal, onStage }: Pick<NamespaceReading, 'host' | 'procRoot' | 'signal' | 'onStage'>): Promise<RulesRead> {
  const rules: NatRule[] = [];
  const read: string[] = [];
  const unread: string[] = [];
  const attempt = async (name: string, paths: readonly string[], args: string[], parse: (text: string) => NatRule[]): Promise<boolean> => {
    onStage(`reading the NAT rules with ${name}`);
    try {
      const text = await output(host, paths, args, signal);
      try {
        rules.push(...parse(text));
      } catch (err) {
        throw new KernelError(name, `output not understood (${err instanceof Error ? err.name : 'error'})`);
      }
      read.push(name);
      return true;
    } catch (err) {
      if (!(err instanceof KernelError) || signal.aborted) throw err;
      unread.push(err.message);
      return false;
    }
  };
  let xtTargets = true;
  const nfTables = await kernelHas(host, 'nf_tables');
  if (nfTables) {
    await attempt('nft', NFT_PATHS, ['-j', 'list', 'ruleset'], (text) => {
      const found = parseNftRuleset(text);
      xtTargets = found.xtTargets;
      return found.rules;
    });
  } else {
    // Asking nf_tables over netlink would load its module: it holds no rule, and is left alone.
    unread.push('nft: not asked, the kernel has no nf_tables (asking would load it)');
  }
  // iptables-nft's rules: their ranges are not in nft's JSON. Without nft, read them anyway.
  if (nfTables && xtTargets) {
    await attempt('iptables-nft-save', saveProgram('iptables-nft-save'), ['-t', 'nat'], (text) => parseIptablesSave(text, 4));
    await attempt('ip6tables-nft-save', saveProgram('ip6tables-nft-save'), ['-t', 'nat'], (text) => parseIptablesSave(text, 6));
  }
  for (const [family, names, program] of [
    [4, 'ip_tables_names', 'iptables-legacy-save'],
    [6, 'ip6_tables_names', 'ip6tables-legacy-save'],
  ] as const) {
    const tables = await host.readText(`${procRoot}/net/${names}`).catch(() => undefined);
    if (tables === undefined || !tables.split('\n').includes('nat')) continue;
    await attempt(program, saveProgram(program), ['-t', 'nat'], (text) => parseIptablesSave(text, family));
  }
  // Without nf_tables and without a legacy nat table there is no rule at all: that is read too.
  return { rules: read.length === 0 && nfTables ? null : rules, read, unread };
}
