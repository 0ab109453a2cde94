import assert from 'node:assert/strict';
import { test } from 'node:test';
import { excerpt, KernelError } from '../../src/host/errors';
import { parseIntSysctl, parsePortRange, parseReservedPorts } from '../../src/sources/sysctls/sysctl';

test('excerpt: only what a kernel field can hold, up to the first character that it cannot', () => {
  assert.equal(excerpt('32768\t60999\n'), '32768 60999');
  assert.equal(excerpt('8080,40100-40109\n'), '8080,40100-40109');
  assert.equal(excerpt('0100007F:9C40 x'), '0100007F:9C40...');
  assert.equal(excerpt('40000 4x199'), '40000 4...');
  assert.equal(excerpt('root:$y$j9T$secret:19700:0:99999:7:::\n'), '');
  assert.equal(excerpt('-----BEGIN OPENSSH PRIVATE KEY-----'), '-----BE...');
  assert.equal(excerpt('1234567890123456789012345'), '12345678901234567890...');
  assert.equal(excerpt('  \n'), '');
  assert.equal(excerpt(''), '');
  assert.equal(excerpt(Buffer.from([0x31, 0x32, 0x00, 0x41])), '12...');
  assert.equal(excerpt(Buffer.from('ABCDEF:12\r\n')), 'ABCDEF:12');
});

test('KernelError: names the file and what is wrong, shows the excerpt only', () => {
  assert.equal(new KernelError('/p/x', 'bad').message, '/p/x: bad');
  assert.equal(new KernelError('/p/x', 'bad', 'secret').message, '/p/x: bad');
  assert.equal(new KernelError('/p/x', 'bad', '12 secret').message, '/p/x: bad (read "12...")');
});

const SECRET = 'root:$y$j9T$QzXwVkJpLmNr:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\n';

test('sysctl parsers never echo a foreign file', () => {
  const messages: string[] = [];
  const capture = (f: () => unknown) => {
    try {
      f();
      assert.fail('accepted a secret file');
    } catch (err) {
      assert.ok(err instanceof KernelError);
      messages.push(err.message);
    }
  };
  for (const text of [SECRET, `40000 ${SECRET}`, `1,${SECRET}`, `2${SECRET}`]) {
    capture(() => parsePortRange(text, 'range'));
    capture(() => parseReservedPorts(text, 'reserved'));
    capture(() => parseIntSysctl(text, 'n', 0, 2));
  }
  for (const m of messages) assert.doesNotMatch(m, /root|QzXw|daemon|\$|\*|99999/, m);
  assert.ok(messages.includes('range: expected two port numbers, "LOW HIGH" (read "40000...")'), messages.join('\n'));
});
