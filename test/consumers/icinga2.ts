/**
 * Drives a real Icinga 2 (Debian's icinga2-bin) from a private directory: its own config,
 * data, cache, log, spool and run dirs (set with -D, see `icinga2 daemon --help`), running
 * as the current user, with the CheckerComponent and the classic command pipe (used to
 * force checks now instead of at a random point of the check interval). What Icinga
 * stored is read back from its own state file (icinga2.state, written at shutdown) and its
 * object cache (icinga2.debug, written by `daemon -C`); perfdata goes through its own
 * parser with `icinga2 console --eval 'parse_performance_data(...)'`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Daemon, sendExternalCommands, waitFor } from './support';

export const ICINGA2 = 'icinga2';
export const NODE_NAME = 'consumers-test';

export interface IcingaLayout {
  readonly dir: string;
  readonly config: string;
  readonly pluginDir: string;
  readonly masterZoneDir: string;
  readonly globalZoneDir: string;
}

function primaryGroup(): string {
  const r = spawnSync('id', ['-gn'], { encoding: 'utf8' });
  return r.stdout.trim() || 'root';
}

export interface RunAs {
  readonly user: string;
  readonly group: string;
}

/** -D constants that move every path Icinga writes into `dir`; the current user unless `runAs`. */
export function defines(dir: string, runAs?: RunAs): string[] {
  return [
    `-DDataDir=${dir}/data`, `-DCacheDir=${dir}/cache`, `-DLogDir=${dir}/log`,
    `-DSpoolDir=${dir}/spool`, `-DInitRunDir=${dir}/run`,
    `-DRunAsUser=${runAs?.user ?? userInfo().username}`, `-DRunAsGroup=${runAs?.group ?? primaryGroup()}`,
  ];
}

/**
 * With `zones`, the layout of a distributed setup: the CheckCommand in the global zone
 * "global-templates" (synced to agents), hosts and services in the master's zone. Without,
 * a single instance: everything in conf.d (a daemon without ApiListener pauses zoned
 * objects, so the daemon runs use this one). `plugins` maps names in PluginDir to files.
 */
export function makeLayout(dir: string, plugins: Record<string, string>, options: { zones: boolean; extra?: string }): IcingaLayout {
  for (const sub of ['data', 'cache', 'log', 'spool', 'run', 'plugins']) mkdirSync(join(dir, sub), { recursive: true });
  const pluginDir = join(dir, 'plugins');
  for (const [name, target] of Object.entries(plugins)) symlinkSync(target, join(pluginDir, name));
  const zones = join(dir, 'zones.d');
  const confd = join(dir, 'conf.d');
  const masterZoneDir = options.zones ? join(zones, NODE_NAME) : confd;
  const globalZoneDir = options.zones ? join(zones, 'global-templates') : confd;
  mkdirSync(masterZoneDir, { recursive: true });
  mkdirSync(globalZoneDir, { recursive: true });
  const config = join(dir, 'icinga2.conf');
  const text = [
    `const PluginDir = ${JSON.stringify(pluginDir)}`,
    `const NodeName = ${JSON.stringify(NODE_NAME)}`,
    `const ZoneName = ${JSON.stringify(NODE_NAME)}`,
    'include <itl>',
    'include <plugins>',
    ...(options.zones
      ? ['object Endpoint NodeName { }', 'object Zone ZoneName { endpoints = [ NodeName ] }', 'object Zone "global-templates" { global = true }']
      : []),
    options.extra ?? '',
    options.zones ? `include_zones "consumers", ${JSON.stringify(zones)}` : `include_recursive ${JSON.stringify(confd)}`,
    '',
  ].join('\n');
  writeFileSync(config, text);
  return { dir, config, pluginDir, masterZoneDir, globalZoneDir };
}

export function validate(layout: IcingaLayout): { status: number | null; output: string } {
  const r = spawnSync(ICINGA2, ['daemon', '-C', '-c', layout.config, ...defines(layout.dir)], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Icinga's netstring files (icinga2.state, icinga2.debug): `length:json,` one after another. */
export function readNetstrings(path: string): Array<Record<string, any>> {
  const bytes = readFileSync(path);
  const out: Array<Record<string, any>> = [];
  let i = 0;
  while (i < bytes.length) {
    const colon = bytes.indexOf(0x3a, i);
    const length = Number(bytes.subarray(i, colon).toString());
    out.push(JSON.parse(bytes.subarray(colon + 1, colon + 1 + length).toString()));
    i = colon + 1 + length + 1;
  }
  return out;
}

/** The services `daemon -C` instantiated, by "host!service", with their evaluated attributes. */
export function compiledServices(layout: IcingaLayout): Map<string, Record<string, any>> {
  const services = new Map<string, Record<string, any>>();
  for (const o of readNetstrings(join(layout.dir, 'cache', 'icinga2.debug'))) {
    if (o.type === 'Service') services.set(`${o.properties.host_name}!${o.properties.name}`, o.properties);
  }
  return services;
}

export interface StoredCheckResult {
  readonly command: string[];
  readonly exit_status: number;
  readonly state: number;
  readonly output: string;
  readonly performance_data: string[];
}

export class IcingaDaemon {
  readonly daemon: Daemon;
  readonly noticeLog: string;

  /** @param runAs the user the daemon drops to (its directories must be that user's). */
  constructor(readonly layout: IcingaLayout, runAs?: RunAs) {
    this.noticeLog = join(layout.dir, 'log', 'notice.log');
    this.daemon = new Daemon(ICINGA2, ['daemon', '-c', layout.config, ...defines(layout.dir, runAs)]);
  }

  /** Extra top-level objects the daemon run needs: a notice log to poll and the command pipe. */
  static runtimeObjects(dir: string): string {
    return [
      `object FileLogger "notice-log" { severity = "notice"; path = ${JSON.stringify(join(dir, 'log', 'notice.log'))} }`,
      `object ExternalCommandListener "command" { command_path = ${JSON.stringify(join(dir, 'run', 'icinga2.cmd'))} }`,
      'object CheckerComponent "checker" { }',
    ].join('\n');
  }

  private log(): string {
    return existsSync(this.noticeLog) ? readFileSync(this.noticeLog, 'utf8') : '';
  }

  /** Schedules a forced check of each "host!service" now, through the command pipe. */
  async forceChecks(names: readonly string[], timeoutMs = 30_000): Promise<void> {
    const lines = (now: number) => names.map((n) => {
      const [host, service] = n.split('!');
      return `SCHEDULE_FORCED_SVC_CHECK;${host};${service};${now}`;
    });
    await sendExternalCommands(join(this.layout.dir, 'run', 'icinga2.cmd'), this.daemon, lines, timeoutMs);
  }

  /** Waits until Icinga has processed a first check result of every "host!service". */
  async waitForResults(names: readonly string[], timeoutMs = 20_000): Promise<void> {
    try {
      await waitFor(`check results of ${names.join(', ')}`, timeoutMs, () => {
        if (!this.daemon.running) throw new Error(`icinga2 exited early:\n${this.daemon.output}`);
        const log = this.log();
        return names.every((n) => log.includes(`State Change: Checkable '${n}'`)) ? true : undefined;
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- icinga2 output:\n${this.daemon.output.slice(-4000)}\n--- notice log:\n${this.log().slice(-4000)}`);
    }
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }

  /** The last check result Icinga stored per "host!service" (read after stop()). */
  storedResults(): Map<string, StoredCheckResult> {
    const results = new Map<string, StoredCheckResult>();
    for (const o of readNetstrings(join(this.layout.dir, 'data', 'icinga2.state'))) {
      if (o.type === 'Service' && o.update?.last_check_result) results.set(o.name, o.update.last_check_result);
    }
    return results;
  }
}

export interface IcingaPerfdataValue {
  label: string;
  value: number;
  unit: string;
  warn: number | null;
  crit: number | null;
  min: number | null;
  max: number | null;
  counter: boolean;
}

/** Icinga's own perfdata parser (PerfdataValue::Parse) over each value, in one console call. */
export function icingaParsePerfdata(values: readonly string[]): IcingaPerfdataValue[] {
  const expr = `[ ${values.map((v) => `parse_performance_data(${JSON.stringify(v)})`).join(', ')} ]`;
  const r = spawnSync(ICINGA2, ['console', '--eval', expr], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`icinga2 console failed (${r.status}): ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as IcingaPerfdataValue[];
}
