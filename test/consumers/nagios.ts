/**
 * Drives a real Nagios Core 4 (Debian's nagios4-core) from a private directory: its own main
 * config, object files, resource file ($USER1$), status.dat, check result spool, command
 * pipe, query socket, log and perfdata file; never /etc/nagios4, never the network (no
 * update check, no notifications, no host checks, no syslog). Started as root it drops to
 * nagios_user, as the packaged service does, so the plugins run as nagios.
 *
 * What Nagios stored is read back from status.dat (what its CGIs and status tools show) and
 * from the service perfdata file (what graphers read), both written by Nagios itself.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon, sendExternalCommands, waitFor } from './support';

export const NAGIOS4 = '/usr/sbin/nagios4';
export const NAGIOS_USER = 'nagios';

/** What Nagios keeps of a service's last check result, as status.dat and the perfdata file hold it. */
export interface StoredResult {
  readonly state: number;
  /** The first line of the output, before any `|`. */
  readonly pluginOutput: string;
  /** The other lines up to the perfdata, newlines restored (Nagios stores them as `\n`). */
  readonly longOutput: string;
  readonly perfdata: string;
}

/** Nagios' escaping of long output in status.dat and in $LONGSERVICEOUTPUT$: `\\` and `\n`. */
function unescapeNewlines(text: string): string {
  return text.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

function idOf(flag: '-u' | '-g', user: string): number {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`no user ${user}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** A timeperiod, a contact that is never notified and the generic-host/generic-service templates the examples use. */
const TEMPLATES = `define timeperiod {
    timeperiod_name     24x7
    alias               always
${['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'].map((d) => `    ${d.padEnd(19)} 00:00-24:00`).join('\n')}
}

define command {
    command_name        notify-nobody
    command_line        /bin/true
}

define contact {
    contact_name                    nobody
    host_notifications_enabled      0
    service_notifications_enabled   0
    host_notification_period        24x7
    service_notification_period     24x7
    host_notification_options       n
    service_notification_options    n
    host_notification_commands      notify-nobody
    service_notification_commands   notify-nobody
}

define host {
    name                    generic-host
    register                0
    max_check_attempts      1
    check_period            24x7
    notification_period     24x7
    contacts                nobody
}

define service {
    name                    generic-service
    register                0
    max_check_attempts      3
    check_interval          10
    retry_interval          2
    check_period            24x7
    notification_period     24x7
    contacts                nobody
}
`;

export class NagiosCore {
  readonly config: string;
  readonly statusFile: string;
  readonly perfdataFile: string;
  readonly commandFile: string;
  private readonly objectFiles: string[] = [];
  private daemon?: Daemon;

  /** pluginDir becomes $USER1$; objects are added with addObjects() before verify() and start(). */
  constructor(readonly dir: string, readonly pluginDir: string) {
    const etc = join(dir, 'etc');
    const writable = ['var', 'spool', 'rw'].map((d) => join(dir, d));
    for (const d of [etc, ...writable]) mkdirSync(d, { recursive: true });
    for (const d of writable) chownSync(d, idOf('-u', NAGIOS_USER), idOf('-g', NAGIOS_USER));
    this.config = join(etc, 'nagios.cfg');
    this.statusFile = join(dir, 'var', 'status.dat');
    this.perfdataFile = join(dir, 'var', 'service-perfdata');
    this.commandFile = join(dir, 'rw', 'nagios.cmd');
    writeFileSync(join(etc, 'resource.cfg'), `$USER1$=${pluginDir}\n`);
    this.addObjects('templates', TEMPLATES);
  }

  addObjects(name: string, text: string): void {
    const file = join(this.dir, 'etc', `${name}.cfg`);
    writeFileSync(file, text);
    this.objectFiles.push(file);
  }

  private writeMainConfig(): void {
    const v = (name: string) => join(this.dir, 'var', name);
    writeFileSync(this.config, [
      ...this.objectFiles.map((f) => `cfg_file=${f}`),
      `resource_file=${join(this.dir, 'etc', 'resource.cfg')}`,
      `nagios_user=${NAGIOS_USER}`, `nagios_group=${NAGIOS_USER}`,
      `log_file=${v('nagios.log')}`, `log_archive_path=${join(this.dir, 'var')}`, 'use_syslog=0',
      `debug_file=${v('nagios.debug')}`, 'debug_level=0',
      `object_cache_file=${v('objects.cache')}`, `precached_object_file=${v('objects.precache')}`,
      `status_file=${this.statusFile}`, 'status_update_interval=1',
      `temp_file=${v('nagios.tmp')}`, `temp_path=${join(this.dir, 'var')}`, `lock_file=${v('nagios.lock')}`,
      'retain_state_information=0', `state_retention_file=${v('retention.dat')}`,
      `check_result_path=${join(this.dir, 'spool')}`, 'check_result_reaper_frequency=1',
      'check_external_commands=1', `command_file=${this.commandFile}`, `query_socket=${join(this.dir, 'rw', 'nagios.qh')}`,
      // Nothing may leave the machine: Nagios' update check calls home, notifications send mail.
      'check_for_updates=0', 'bare_update_check=0', 'enable_notifications=0', 'enable_event_handlers=0',
      'execute_host_checks=0', 'enable_flap_detection=0', 'enable_environment_macros=0',
      'service_check_timeout=60', 'interval_length=60',
      // Debian's nagios.cfg value; `nagios4 -v` warns when it is unset.
      "illegal_macro_output_chars=`~$&|'\"<>",
      'process_performance_data=1', `service_perfdata_file=${this.perfdataFile}`, 'service_perfdata_file_mode=a',
      // Nagios turns \t into a tab; $LONGSERVICEOUTPUT$ keeps its escaped newlines, so one line per result.
      'service_perfdata_file_template=$HOSTNAME$\\t$SERVICEDESC$\\t$SERVICESTATEID$\\t$SERVICEOUTPUT$\\t$LONGSERVICEOUTPUT$\\t$SERVICEPERFDATA$',
      '',
    ].join('\n'));
  }

  /** `nagios4 -v`: the configuration check. */
  verify(): { status: number | null; output: string } {
    this.writeMainConfig();
    const r = spawnSync(NAGIOS4, ['-v', this.config], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  }

  async start(): Promise<void> {
    this.writeMainConfig();
    this.daemon = new Daemon(NAGIOS4, [this.config]);
    await waitFor('the Nagios status file', 30_000, () => {
      if (!this.daemon!.running) throw new Error(`nagios4 exited:\n${this.daemon!.output}\n${this.log()}`);
      return existsSync(this.statusFile) ? true : undefined;
    });
  }

  /** Forces a check of every service of each host now, through the command pipe. */
  async forceChecks(hosts: readonly string[]): Promise<void> {
    await sendExternalCommands(this.commandFile, this.daemon!, (now) => hosts.map((h) => `SCHEDULE_FORCED_HOST_SVC_CHECKS;${h};${now}`));
  }

  /** Waits until status.dat holds a check result for every "host;service". */
  async waitForResults(keys: readonly string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(`check results of ${keys.join(', ')}`, timeoutMs, () => {
      if (!this.daemon!.running) throw new Error(`nagios4 exited:\n${this.daemon!.output}\n${this.log()}`);
      const checked = this.statusBlocks();
      return keys.every((k) => checked.get(k)?.has_been_checked === '1') ? true : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.log()}`);
    });
  }

  /** The servicestatus blocks of status.dat by "host;service", every field as written. */
  private statusBlocks(): Map<string, Record<string, string>> {
    const blocks = new Map<string, Record<string, string>>();
    if (!existsSync(this.statusFile)) return blocks;
    for (const m of readFileSync(this.statusFile, 'utf8').matchAll(/^servicestatus \{\n([\s\S]*?)\n\t\}$/gm)) {
      const fields: Record<string, string> = {};
      for (const line of m[1].split('\n')) {
        const eq = line.indexOf('=');
        fields[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
      blocks.set(`${fields.host_name};${fields.service_description}`, fields);
    }
    return blocks;
  }

  /** The last check result of every service, from status.dat. */
  statusResults(): Map<string, StoredResult> {
    const results = new Map<string, StoredResult>();
    for (const [key, f] of this.statusBlocks()) {
      results.set(key, { state: Number(f.current_state), pluginOutput: f.plugin_output, longOutput: unescapeNewlines(f.long_plugin_output), perfdata: f.performance_data });
    }
    return results;
  }

  /** Every check result written to the service perfdata file, by "host;service", oldest first. */
  perfdataResults(): Map<string, StoredResult[]> {
    const results = new Map<string, StoredResult[]>();
    const text = existsSync(this.perfdataFile) ? readFileSync(this.perfdataFile, 'utf8') : '';
    for (const line of text.split('\n').filter((l) => l !== '')) {
      const [host, service, state, pluginOutput, longOutput, perfdata] = line.split('\t');
      const key = `${host};${service}`;
      results.set(key, [...(results.get(key) ?? []), { state: Number(state), pluginOutput, longOutput: unescapeNewlines(longOutput), perfdata }]);
    }
    return results;
  }

  log(): string {
    const file = join(this.dir, 'var', 'nagios.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
  }
}
