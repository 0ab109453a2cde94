// Builds the Sensu Go asset: a tar.gz holding bin/check_ephemeral_ports (the committed
// bundle), prints its SHA-512 and writes url and sha512 into the Asset definition.
//
//   npm run asset [-- --url BASE_URL] [--out DIR] [--definition FILE]
//
// Sensu unpacks an asset and puts its bin/ on the check's PATH. The tarball is made here
// (ustar, gzip) with fixed owners and times, so the same bundle gives the same SHA-512.
// Node.js itself is not in it: it comes from the agent host or a runtime asset listed first.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'build/sensu' },
    definition: { type: 'string', default: 'icinga/sensu-asset.yaml' },
    url: { type: 'string' },
    bundle: { type: 'string', default: 'dist/check_ephemeral_ports' },
  },
});

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const MTIME = 0; // fixed: the archive's bytes depend on the bundle alone

function octal(n, width) {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** One 512-byte ustar header (POSIX.1-1988). */
function header(name, { mode, size, type }) {
  const h = Buffer.alloc(512);
  const put = (offset, text) => h.write(text, offset, 'latin1');
  if (Buffer.byteLength(name) > 100) throw new Error(`name too long for ustar: ${name}`);
  put(0, name);
  put(100, octal(mode, 8));
  put(108, octal(0, 8)); // uid
  put(116, octal(0, 8)); // gid
  put(124, octal(size, 12));
  put(136, octal(MTIME, 12));
  put(148, '        '); // checksum is computed with its own field as spaces
  put(156, type);
  put(257, 'ustar\0');
  put(263, '00');
  put(265, 'root');
  put(297, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

function tar(entries) {
  const blocks = [];
  for (const e of entries) {
    const data = e.data ?? Buffer.alloc(0);
    blocks.push(header(e.name, { mode: e.mode, size: data.length, type: e.type }), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024)); // two zero blocks end the archive
  return Buffer.concat(blocks);
}

const bundle = readFileSync(values.bundle);
if (!(statSync(values.bundle).mode & 0o111)) throw new Error(`${values.bundle} is not executable`);
const archive = gzipSync(tar([
  { name: 'bin/', mode: 0o755, type: '5' },
  { name: 'bin/check_ephemeral_ports', mode: 0o755, type: '0', data: bundle },
]), { level: 9 });

const file = join(values.out, `check_ephemeral_ports-${version}-linux.tar.gz`);
mkdirSync(values.out, { recursive: true });
writeFileSync(file, archive);
const sha512 = createHash('sha512').update(archive).digest('hex');

let definition = readFileSync(values.definition, 'utf8');
const urlLine = /^(\s*- url: )(\S+)$/m;
const shaLine = /^(\s*sha512: )(\S+)$/m;
if (!urlLine.test(definition) || !shaLine.test(definition)) throw new Error(`${values.definition}: no "- url:" and "sha512:" lines to fill in`);
const oldUrl = urlLine.exec(definition)[2];
const base = values.url ?? oldUrl.slice(0, oldUrl.lastIndexOf('/'));
definition = definition.replace(urlLine, `$1${base.replace(/\/$/, '')}/${basename(file)}`).replace(shaLine, `$1${sha512}`);
writeFileSync(values.definition, definition);

console.log(`${file}\nsha512 ${sha512}\nwritten to ${values.definition}`);
