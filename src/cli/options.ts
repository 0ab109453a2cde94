/**
 * The command line: one table of option specs drives parsing, validation, --help and the
 * short usage, so they cannot drift apart. minimist does the parsing after a pre-pass
 * that removes its traps (docs/plugin-contract.md, "Options"): attached short values
 * (`-w10:`), values that start with `-` (`-w -5:`), counted `-vvv`, unknown options and
 * empty values.
 */
import minimist from 'minimist';
import type { Family } from '../model/address';
import type { NamespaceChoice } from '../namespaces/discover';
import { SOURCE_CHOICES, type SourceChoice } from '../model/settings';
import { Range, RangeError } from '../nagios/range';
import { AddressMatcher, parsePrefix, type Selection } from '../verdict/selection';
import type { FailureThresholds } from '../verdict/failures';
import type { Thresholds } from '../verdict/judge';

export class UsageError extends Error {}

export const WALK_CHOICES = ['at-risk', 'all'] as const;
export type WalkChoice = (typeof WALK_CHOICES)[number];

export const FORMATS = ['nagios', 'json', 'prometheus'] as const;
export type Format = (typeof FORMATS)[number];

interface OptionSpec {
  readonly long: string;
  readonly short?: string;
  /** The value's name in help; absent for flags. */
  readonly arg?: string;
  readonly repeat?: boolean;
  readonly fallback?: string;
  /** A flag that also takes this one value, attached only (`--failures=off`). */
  readonly optional?: string;
  readonly help: string;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'warning', short: 'w', arg: 'RANGE', fallback: '70', help: 'Nagios range for the worst usage in percent; WARNING when it alerts' },
  { long: 'critical', short: 'c', arg: 'RANGE', fallback: '90', help: 'Nagios range for the worst usage in percent; CRITICAL when it alerts' },
  { long: 'warning-remaining', arg: 'N', help: 'also WARNING when a pool has fewer than N ports left' },
  { long: 'critical-remaining', arg: 'N', help: 'also CRITICAL when a pool has fewer than N ports left' },
  { long: 'warning-churn', arg: 'FACTOR', help: 'also WARNING when a TCP tuple could not take FACTOR times its churn (its TIME_WAIT) before connect() fails, e.g. 3' },
  { long: 'critical-churn', arg: 'FACTOR', help: 'also CRITICAL when a TCP tuple could not take FACTOR times its churn, e.g. 1.5' },
  { long: 'tcp', help: 'check TCP tuples (default: TCP and UDP)' },
  { long: 'udp', help: 'check the host-wide UDP pool (default: TCP and UDP)' },
  { long: 'ipv4', short: '4', help: 'only IPv4 TCP tuples (IPv4-mapped IPv6 counts as IPv4)' },
  { long: 'ipv6', short: '6', help: 'only IPv6 TCP tuples' },
  { long: 'remote', arg: 'PREFIX', repeat: true, help: 'only tuples whose remote address is in PREFIX (address or CIDR); repeatable' },
  { long: 'remote-port', arg: 'PORT[-PORT]', repeat: true, help: 'only tuples whose remote port is PORT or in the span; repeatable' },
  { long: 'local', arg: 'PREFIX', repeat: true, help: 'only tuples whose local address is in PREFIX; repeatable' },
  { long: 'top', arg: 'N', fallback: '5', help: 'how many pools the detail lines, JSON and Prometheus per-pool series list, worst first; 0 = all' },
  { long: 'tuple-perfdata', help: 'add perfdata per listed TCP tuple (labels made of addresses: many series)' },
  { long: 'format', arg: 'FORMAT', fallback: 'nagios', help: 'output format: nagios, json or prometheus (node_exporter textfile collector)' },
  { long: 'source', arg: 'SOURCE', fallback: 'auto', help: 'read sockets with ss (filtered in the kernel: fast on busy hosts) or from /proc/net: auto, ss or proc; auto: /proc when the namespace holds fewer than 5000 sockets (its sockstat), else ss when it works and answers within half of -t (else it is killed), /proc otherwise' },
  { long: 'proc', arg: 'DIR', fallback: '/proc', help: 'read DIR/net/* and DIR/sys/net/ipv4/* (a captured copy, for instance); implies --source proc; refused under sudo (a copy needs no root)' },
  { long: 'namespaces', arg: 'WHICH', help: 'check other network namespaces (containers, pods): all, a PID, or a NAME under /run/netns; their sysctls need root (else the defaults of a new namespace are assumed, and said)' },
  { long: 'walk', arg: 'WHICH', fallback: 'at-risk', help: 'with --namespaces: at-risk lists the sockets only of the namespaces whose socket counts (sockstat) could reach a threshold, and answers for the others by their counts; all lists every one' },
  { long: 'nat', help: 'also judge the source NAT port pools (MASQUERADE, SNAT) of each namespace read, per NAT address and destination, from conntrack and the NAT rules (root; without root only conntrack\'s insert_failed counter is read, and said); --source chooses the reader: proc /proc/net/nf_conntrack, ss the conntrack program; off by default: the table can hold a million entries' },
  { long: 'nat-range', arg: 'LOW-HIGH', help: 'the NAT rules\' port range (--to-ports, masquerade to :LOW-HIGH) instead of reading the rules; implies --nat' },
  { long: 'owners', help: 'name the processes holding each listed tuple\'s sockets (done anyway for WARNING and CRITICAL tuples, and with -v); root sees every process, other users their own' },
  { long: 'failures', optional: 'off', help: 'count the connect()s that failed for want of a local port since the last run, per tuple (all of them: --remote and the like do not apply, as reading consumes), from a tracefs instance the check keeps (root; the only thing the check writes); --failures=off removes it' },
  { long: 'warning-failures', arg: 'N', help: 'with --failures: WARNING at N failed connect()s or more since the last run; 0: never' },
  { long: 'critical-failures', arg: 'N', fallback: '1', help: 'with --failures: CRITICAL at N failed connect()s or more since the last run; 0: never' },
  { long: 'timeout', short: 't', arg: 'SECONDS', fallback: '8', help: 'give up with UNKNOWN after SECONDS (below check_nrpe\'s 10 s)' },
  { long: 'verbose', short: 'v', help: 'more detail: range, listeners, TIME_WAIT, optimistic and bind()-style figures, what the parity cannot tell; repeat up to 3 times' },
  { long: 'help', short: 'h', help: 'show this help and exit' },
  { long: 'version', short: 'V', help: 'show the version and exit' },
];

const BY_LONG = new Map(OPTION_SPECS.map((s) => [s.long, s]));
const BY_SHORT = new Map(OPTION_SPECS.filter((s) => s.short).map((s) => [s.short as string, s]));

export interface Options {
  readonly help: boolean;
  readonly version: boolean;
  readonly verbose: number;
  readonly thresholds: Thresholds;
  readonly selection: Selection;
  readonly top: number;
  readonly tuplePerfdata: boolean;
  readonly format: Format;
  readonly procRoot: string;
  /** --proc was given: a copy, which a privileged run refuses. */
  readonly procGiven: boolean;
  /** Where sockets are read; sysctls always come from procRoot. */
  readonly source: SourceChoice;
  readonly timeoutSeconds: number;
  /** Look up the owners of every listed tuple, not only of the alerting ones. */
  readonly owners: boolean;
  /** --namespaces; null: only the check's own namespace, as before. */
  readonly namespaces: NamespaceChoice | null;
  /** --nat (or --nat-range): judge the source NAT pools too. */
  readonly nat: boolean;
  /** --nat-range: the NAT port range stated; null: read from the rules, else assumed. */
  readonly natRange: { readonly low: number; readonly high: number } | null;
  /** --failures: count the failed connect()s, or remove the trace instance (off); null: neither. */
  readonly failures: { readonly mode: 'count' | 'off' | null; readonly thresholds: FailureThresholds };
  /** --walk: with --namespaces, list every namespace's sockets, or only those of the namespaces at risk by their counts. */
  readonly walk: WalkChoice;
}

/**
 * Rewrites argv into the unambiguous `--long=value` / `--flag` form minimist reads safely.
 * A bad token is recorded (the first one is the usage error) and skipped, so the options
 * after it still count: --format decides how even that error is printed.
 */
function normalise(argv: readonly string[]): { args: string[]; verbose: number; error: UsageError | null } {
  const args: string[] = [];
  let verbose = 0;
  let error: UsageError | null = null;
  const fail = (message: string) => void (error ??= new UsageError(message));
  const withValue = (spec: OptionSpec, value: string | undefined, shown: string) => {
    if (value === undefined) fail(`option ${shown} needs a value (${spec.arg})`);
    else if (value.trim() === '') fail(`option ${shown} has an empty value`);
    else args.push(`--${spec.long}=${value}`);
  };
  // A value of its own token may start with "-" (`-w -5:`), never with "--": that is the
  // next option, and the value is missing.
  const next = (i: number): string | undefined => (argv[i + 1]?.startsWith('--') ? undefined : argv[i + 1]);
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token.startsWith('--')) {
      if (token === '--') {
        fail('unexpected "--": this check takes no arguments besides options');
        continue;
      }
      const eq = token.indexOf('=');
      const name = token.slice(2, eq === -1 ? undefined : eq);
      const spec = BY_LONG.get(name);
      if (spec === undefined) fail(`unknown option --${name}`);
      else if (spec.arg) withValue(spec, eq === -1 ? next(i) : token.slice(eq + 1), `--${name}`);
      else if (spec.optional !== undefined && eq !== -1 && token.slice(eq + 1) !== spec.optional) fail(`option --${name} takes no value but =${spec.optional}`);
      else if (spec.optional !== undefined) args.push(`--${name}=${eq === -1 ? 'on' : spec.optional}`);
      else if (eq !== -1) fail(`option --${name} takes no value`);
      else if (name === 'verbose') verbose++;
      else args.push(token);
      if (spec?.arg && eq === -1 && next(i) !== undefined) i++;
    } else if (token.startsWith('-') && token.length > 1) {
      for (let j = 1; j < token.length; j++) {
        const spec = BY_SHORT.get(token[j]);
        if (spec === undefined) {
          fail(`unknown option -${token[j]}`);
          break;
        }
        if (spec.arg) {
          const attached = token.slice(j + 1);
          withValue(spec, attached !== '' ? attached : next(i), `-${token[j]}`);
          if (attached === '' && next(i) !== undefined) i++;
          break;
        }
        if (spec.long === 'verbose') verbose++;
        else args.push(`--${spec.long}`);
      }
    } else {
      fail(`unexpected argument "${token}"`);
    }
  }
  return { args, verbose, error };
}

/**
 * The output format asked for, when the option itself parsed (given, every time with the
 * same valid value), whatever else is wrong with the command line; else nagios. Usage
 * errors and every UNKNOWN are printed in it.
 */
export function requestedFormat(argv: readonly string[]): Format {
  const given = normalise(argv).args.filter((a) => a.startsWith('--format=')).map((a) => a.slice('--format='.length));
  const format = given[0] as Format;
  return given.length > 0 && given.every((g) => g === format) && FORMATS.includes(format) ? format : 'nagios';
}

function wholeNumber(text: string, option: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n <= max)) throw new UsageError(`--${option} wants a whole number from 0 to ${max}, not "${text}"`);
  return n;
}

/** A churn factor: 1 would be today's churn, which always fits, so above 1. */
function churnFactor(text: string | undefined, option: string): number | null {
  if (text === undefined) return null;
  const n = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(n > 1 && n <= 1_000_000)) throw new UsageError(`--${option} wants a factor above 1 (times today's churn), such as 1.5 or 3, not "${text}"`);
  return n;
}

function range(text: string, option: string): Range {
  try {
    return Range.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--${option}: ${err.message}`);
    throw err;
  }
}

function portSpan(text: string, option = 'remote-port'): { low: number; high: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const low = m ? Number(m[1]) : NaN;
  const high = m && m[2] !== undefined ? Number(m[2]) : low;
  if (!(low >= 1 && high <= 65535 && low <= high)) throw new UsageError(`--${option} wants PORT or LOW-HIGH within 1-65535, not "${text}"`);
  return { low, high };
}

function matcher(values: string[], option: string): AddressMatcher | null {
  if (values.length === 0) return null;
  for (const v of values) {
    try {
      parsePrefix(v);
    } catch (err) {
      throw new UsageError(`--${option}: ${(err as Error).message}`);
    }
  }
  return new AddressMatcher(values);
}

export function parseCommandLine(argv: readonly string[]): Options {
  const { args, verbose, error } = normalise(argv);
  if (error !== null) throw error;
  const flags = OPTION_SPECS.filter((s) => !s.arg && s.optional === undefined).map((s) => s.long);
  const parsed = minimist(args, { string: OPTION_SPECS.filter((s) => s.arg || s.optional !== undefined).map((s) => s.long), boolean: flags });
  const values = (long: string): string[] => {
    const v = parsed[long] as string | string[] | undefined;
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
  };
  const single = (long: string): string | undefined => {
    const v = values(long);
    if (v.length > 1 && !BY_LONG.get(long)?.repeat) throw new UsageError(`option --${long} given more than once`);
    return v[0] ?? BY_LONG.get(long)?.fallback;
  };
  const flag = (long: string): boolean => parsed[long] === true;

  const timeoutText = single('timeout') as string;
  const timeoutSeconds = /^\d+(\.\d+)?$/.test(timeoutText) ? Number(timeoutText) : NaN;
  if (!(timeoutSeconds > 0 && timeoutSeconds <= 3600)) throw new UsageError(`--timeout wants seconds above 0 and up to 3600, not "${timeoutText}"`);
  const format = single('format') as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format wants ${FORMATS.join(', ')}, not "${format}"`);
  // --proc names a copy of /proc: only the /proc reader can read it.
  const procGiven = values('proc').length > 0;
  const sourceText = single('source') as string;
  if (!SOURCE_CHOICES.includes(sourceText as SourceChoice)) throw new UsageError(`--source wants ${SOURCE_CHOICES.join(', ')}, not "${sourceText}"`);
  if (procGiven && sourceText === 'ss') throw new UsageError('--proc reads a copy of /proc, --source ss the running kernel: choose one');
  const source: SourceChoice = procGiven ? 'proc' : (sourceText as SourceChoice);
  const namespaces = namespaceChoice(single('namespaces'));
  if (namespaces !== null && procGiven) throw new UsageError('--namespaces reads the running kernel, --proc a copy: choose one');
  const walk = single('walk') as WalkChoice;
  if (!WALK_CHOICES.includes(walk)) throw new UsageError(`--walk wants ${WALK_CHOICES.join(' or ')}, not "${walk}"`);
  if (values('walk').length > 0 && namespaces === null) throw new UsageError('--walk chooses which of --namespaces to list: give --namespaces too');
  const optionalCount = (long: string) => {
    const v = single(long);
    return v === undefined ? null : wholeNumber(v, long, 65535);
  };
  const failures = failureChoice(single('failures'), values('warning-failures').length + values('critical-failures').length > 0, procGiven);
  // 0: never; the count is of connect()s, so a whole number.
  const failureCount = (long: string) => {
    const n = optionalCount(long);
    return n === 0 ? null : n;
  };

  const natRangeText = single('nat-range');
  const natRange = natRangeText === undefined ? null : portSpan(natRangeText, 'nat-range');
  const both = !flag('tcp') && !flag('udp');
  const anyFamily = !flag('ipv4') && !flag('ipv6');
  const families: Family[] = [];
  if (anyFamily || flag('ipv4')) families.push(4);
  if (anyFamily || flag('ipv6')) families.push(6);
  return {
    help: flag('help'),
    version: flag('version'),
    verbose: Math.min(verbose, 3),
    thresholds: {
      warning: range(single('warning') as string, 'warning'),
      critical: range(single('critical') as string, 'critical'),
      warningRemaining: optionalCount('warning-remaining'),
      criticalRemaining: optionalCount('critical-remaining'),
      warningChurn: churnFactor(single('warning-churn'), 'warning-churn'),
      criticalChurn: churnFactor(single('critical-churn'), 'critical-churn'),
    },
    selection: {
      tcp: both || flag('tcp'),
      udp: both || flag('udp'),
      families,
      remote: matcher(values('remote'), 'remote'),
      local: matcher(values('local'), 'local'),
      remotePorts: values('remote-port').map((v) => portSpan(v)),
    },
    top: wholeNumber(single('top') as string, 'top'),
    tuplePerfdata: flag('tuple-perfdata'),
    format,
    procRoot: single('proc') as string,
    procGiven,
    source,
    timeoutSeconds,
    namespaces,
    walk,
    owners: flag('owners'),
    nat: flag('nat') || natRange !== null,
    natRange,
    failures: { mode: failures, thresholds: { warning: failureCount('warning-failures'), critical: failureCount('critical-failures') } },
  };
}

/** --failures, --failures=off, or neither; its thresholds mean nothing without it. */
function failureChoice(text: string | undefined, thresholds: boolean, procGiven: boolean): 'count' | 'off' | null {
  const mode = text === undefined ? null : text === 'off' ? 'off' : 'count';
  if (mode === null && thresholds) throw new UsageError('--warning-failures and --critical-failures need --failures');
  if (mode !== null && procGiven) throw new UsageError('--failures counts on the running kernel, --proc reads a copy: choose one');
  return mode;
}

/** `all`, a pid, or a name under /run/netns (one path component: nothing else is opened). */
function namespaceChoice(text: string | undefined): NamespaceChoice | null {
  if (text === undefined) return null;
  if (text === 'all') return { all: true };
  if (/^\d+$/.test(text)) {
    const pid = Number(text);
    if (!(pid >= 1 && pid <= 4194304)) throw new UsageError('--namespaces: a PID is a number from 1 to 4194304');
    return { pid };
  }
  if (/^[A-Za-z0-9_.-]{1,64}$/.test(text) && text !== '.' && text !== '..') return { name: text };
  throw new UsageError('--namespaces wants all, a PID, or the name of a namespace under /run/netns (letters, digits, _ . -)');
}

export function usageText(): string {
  // No "|" anywhere: this text follows an UNKNOWN status line, and consumers read a pipe
  // as the start of perfdata.
  return 'Usage: check_ephemeral_ports [-w RANGE] [-c RANGE] [--warning-remaining N] [--critical-remaining N]\n' +
    '  [--warning-churn FACTOR] [--critical-churn FACTOR]\n' +
    '  [--tcp] [--udp] [-4] [-6] [--remote PREFIX]... [--remote-port PORT]... [--local PREFIX]...\n' +
    '  [--top N] [--tuple-perfdata] [--format FORMAT] [--source SOURCE] [--proc DIR]\n' +
    '  [--namespaces WHICH] [--walk WHICH] [--owners] [--nat] [--nat-range LOW-HIGH]\n' +
    '  [--failures[=off]] [--warning-failures N] [--critical-failures N]\n' +
    '  [-t SECONDS] [-v]...\n' +
    '  check_ephemeral_ports -h (help), -V (version)\n';
}

export function helpText(version: string): string {
  const rows = OPTION_SPECS.map((s) => {
    const names = [s.short ? `-${s.short}` : null, `--${s.long}`].filter(Boolean).join(', ');
    const left = s.arg ? `${names} ${s.arg}` : names;
    const fallback = s.fallback ? ` (default: ${s.fallback})` : '';
    return `  ${left.padEnd(32)} ${s.help}${fallback}`;
  });
  return [
    `check_ephemeral_ports ${version}`,
    'Warns before a Linux host runs out of ephemeral ports for one destination.',
    '',
    'connect() draws local ports from net.ipv4.ip_local_port_range, shared per tuple',
    '(local address, remote address, remote port): the check finds the tuple with the',
    'least headroom and compares its usage with the thresholds. Reserved ports and',
    'in-range listeners shrink every tuple; TIME_WAIT counts unless tcp_tw_reuse would',
    'reuse it now. UDP is one host-wide pool.',
    '',
    'A client that calls bind(addr, 0) before connect() without',
    'IP_BIND_ADDRESS_NO_PORT takes its port from every tuple. connect() prefers ports',
    'at an even offset from the low end of the range, bind() those at an odd one: a',
    'port held at an odd offset by a tuple that still had even ones free was taken by',
    'bind(). The check takes such ports out of every tuple, names the clients, and',
    'gives the fix: set IP_BIND_ADDRESS_NO_PORT (HAProxy >= 1.7 and nginx >= 1.11.4',
    'set it when their source address has no port). Still invisible: a port a program',
    'chose itself at an even offset, and at an even offset the port of a closed',
    'in-range listener that its accepted connections still hold. connect() of a socket',
    'with IP_LOCAL_PORT_RANGE has no preferred parity: its odd ports are counted as',
    'bind()\'s (the safe side). -v shows the optimistic figure (connect() chose every',
    'port) and the pessimistic bind()-style one (every held port is lost), and says',
    'where the parity cannot tell. Sockets bound but neither listening nor connected',
    'are not listed at all. TIME_WAIT reuse needs timestamps on that very connection;',
    'only today\'s tcp_timestamps setting can be seen.',
    '',
    'Churn: each connection our side closes holds its port 60 s in TIME_WAIT. Per TCP',
    'tuple: closes/s (the last 60 s and 10 s, from the TIME_WAIT that holds a port), the',
    'headroom factor (how many times that churn fits before connect() fails) and the',
    'ceiling (the close rate the tuple can sustain). Fewer closes: reuse connections',
    '(HTTP keep-alive, connection pools).',
    '',
    'Source NAT (--nat, root): on Docker hosts, Kubernetes nodes and NAT gateways every',
    'masqueraded connection to one destination takes a port from one pool of the NAT',
    'address, whatever namespace it came from. Per pool (NAT address, destination, from',
    'conntrack): used, capacity (the rule\'s --to-ports, else the kernel\'s class',
    '1024-65535 = 64,512), remaining, judged by the same thresholds; the worst item, a',
    'tuple or a NAT pool, sets the state. A full pool drops new connections without an',
    'error (conntrack\'s insert_failed rises, connect() times out).',
    '',
    usageText().trimEnd(),
    '',
    'Options:',
    ...rows,
    '',
    'RANGE is a Nagios range: 90 alerts above 90, 10: below 10, ~:90 above 90,',
    '10:90 outside 10..90, @10:90 inside it. FACTOR is a number above 1: with 3, three',
    'times today\'s churn must fit. Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.',
    '',
  ].join('\n');
}
