// Writes the man page check_ephemeral_ports(1), in roff, to stdout, from the bundle's own
// `--help`: every option the bundle knows is in the page, with the text `--help` gives it,
// so an option added in src/ appears here at the next `npm run package` with nothing to edit.
// Usage: node scripts/manpage.mjs BUNDLE PLUGIN_PATH DATE(YYYY-MM-DD)
//
// The layout of --help it relies on (src/cli/options.ts): a first line `NAME VERSION`, a
// one-line summary, paragraphs, a `Usage:` block, an `Options:` block of lines
// `  -x, --long ARG   text` (a line indented further continues the text above it), then
// paragraphs. Anything else fails loudly rather than giving a page with a hole.
import { spawnSync } from 'node:child_process';

const [bundle, pluginPath, date] = process.argv.slice(2);
if (!bundle || !pluginPath || !/^\d{4}-\d{2}-\d{2}$/.test(date ?? '')) {
  console.error('usage: node scripts/manpage.mjs BUNDLE PLUGIN_PATH YYYY-MM-DD');
  process.exit(2);
}
// The bundle exits 3 (UNKNOWN) after --help, as a plugin must.
const run = spawnSync(process.execPath, [bundle, '--help'], { encoding: 'utf8' });
if (run.status !== 3 || !run.stdout) {
  console.error(`${bundle} --help: exit ${run.status}, ${run.stderr}`);
  process.exit(1);
}
const lines = run.stdout.replace(/\n+$/, '').split('\n');

const [name, version] = lines[0].split(' ');
if (name !== 'check_ephemeral_ports' || !/^\d+\.\d+\.\d+/.test(version ?? '')) fail(`unexpected first line: ${lines[0]}`);
const summary = lines[1];

const usageAt = lines.findIndex((l) => l.startsWith('Usage: '));
const optionsAt = lines.indexOf('Options:');
if (usageAt < 0 || optionsAt < usageAt) fail('no "Usage:" followed by "Options:"');

/** Text between blank lines, each paragraph joined into one line. */
function paragraphs(block) {
  const out = [];
  let current = [];
  for (const line of block) {
    if (line.trim() === '') {
      if (current.length) out.push(current.join(' '));
      current = [];
    } else current.push(line.trim());
  }
  if (current.length) out.push(current.join(' '));
  return out;
}

const description = paragraphs(lines.slice(2, usageAt));
const usage = lines.slice(usageAt, optionsAt).join('\n').replace(/^Usage: /, '').split('\n').map((l) => l.trim()).filter((l) => l !== '');

const options = [];
let end = optionsAt + 1;
for (; end < lines.length; end++) {
  const line = lines[end];
  if (line.trim() === '') break;
  const m = /^ {2}(-\S.*?) {2,}(\S.*)$/.exec(line);
  if (m) options.push({ flags: m[1].trim(), text: m[2] });
  else if (/^ {6,}\S/.test(line) && options.length) options[options.length - 1].text += ` ${line.trim()}`;
  else fail(`option line not understood: ${JSON.stringify(line)}`);
}
if (options.length < 5) fail(`only ${options.length} options found`);
const notes = paragraphs(lines.slice(end + 1));

/** roff text: backslashes escaped, no line starting with a control character, minus signs as \-. */
function text(s) {
  return s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/, '\\&$1');
}
function fail(message) {
  console.error(`scripts/manpage.mjs: ${message}`);
  process.exit(1);
}

const out = [
  `.TH CHECK_EPHEMERAL_PORTS 1 "${date}" "check_ephemeral_ports ${version}" "Monitoring plugins"`,
  '.SH NAME',
  `check_ephemeral_ports \\- ${text(summary.replace(/\.$/, '').replace(/^([A-Z])/, (c) => c.toLowerCase()))}`,
  '.SH SYNOPSIS',
  '.nf',
  ...usage.map((u) => text(u).replace(/^check_ephemeral_ports/, '\\fBcheck_ephemeral_ports\\fR')),
  '.fi',
  '.SH DESCRIPTION',
  ...description.flatMap((p, i) => (i === 0 ? [text(p)] : ['.PP', text(p)])),
  '.SH OPTIONS',
  ...options.flatMap((o) => ['.TP', `.B ${text(o.flags)}`, text(o.text)]),
];
if (notes.length) out.push('.SH NOTES', ...notes.flatMap((p, i) => (i === 0 ? [text(p)] : ['.PP', text(p)])));
out.push(
  '.SH EXIT STATUS',
  '0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, as every Nagios plugin; also 3 after',
  '.B \\-\\-help',
  'and',
  '.BR \\-\\-version .',
  '.SH FILES',
  '.TP',
  `.I ${text(pluginPath)}`,
  'the plugin (run by Node.js >= 18)',
  '.TP',
  '.I /usr/share/icinga2/include/ephemeral_ports',
  'Icinga 2 CheckCommands ephemeral_ports and ephemeral_ports_sudo: \\fBinclude <ephemeral_ports>\\fR',
  '.TP',
  '.I /usr/share/check\\-ephemeral\\-ports/',
  'the sudoers example (inert until installed in /etc/sudoers.d) and the Zabbix template',
  '.SH SEE ALSO',
  '.BR icinga2 (8),',
  '.BR nagios4 (8),',
  '.BR nrpe (8),',
  '.BR zabbix_agentd (8),',
  '.BR sudoers (5)',
  '',
);
process.stdout.write(out.join('\n'));
