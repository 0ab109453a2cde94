import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointText, ipv4Text, ipv6Text, ipv6WordsText, parseIpv6 } from '../../src/model/address';

test('IPv4 from a network-order word', () => {
  assert.equal(ipv4Text(0x7f000001), '127.0.0.1');
  assert.equal(ipv4Text(0x0ac80001), '10.200.0.1');
  assert.equal(ipv4Text(0xffffffff), '255.255.255.255');
});

test('IPv6 text follows RFC 5952', () => {
  assert.equal(ipv6Text([0, 0, 0, 0, 0, 0, 0, 1]), '::1');
  assert.equal(ipv6Text([0, 0, 0, 0, 0, 0, 0, 0]), '::');
  assert.equal(ipv6Text([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1'); // first of equal runs
  assert.equal(ipv6Text([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1'); // one zero group stays
  assert.equal(ipv6Text([0x2001, 0xdb8, 0, 0, 0, 0xabcd, 0, 0]), '2001:db8::abcd:0:0'); // longest run wins
  assert.equal(ipv6Text([0xfe80, 0, 0, 0, 0xa, 0xbb, 0xccc, 0xdddd]), 'fe80::a:bb:ccc:dddd');
});

test('IPv4-mapped IPv6 folds into IPv4', () => {
  assert.deepEqual(ipv6WordsText(0, 0, 0xffff, 0x7f000002), { family: 4, text: '127.0.0.2' });
  assert.deepEqual(ipv6WordsText(0, 0, 0, 1), { family: 6, text: '::1' });
  // ::ffff:0:1.2.3.4 style (SIIT) is not mapped
  assert.equal(ipv6WordsText(0, 0, 0xffff0000, 0x01020304).family, 6);
});

test('IPv6 text in any spelling, read from bytes', () => {
  const words = (text: string): string | false => {
    const into = new Int32Array(4);
    // Inside a larger buffer, as ss hands it over: only [start, end) may be read.
    const buf = Buffer.from(`[${text}]:80`, 'latin1');
    if (!parseIpv6(buf, 1, 1 + text.length, into)) return false;
    return Array.from(into, (w) => (w >>> 0).toString(16)).join(' ');
  };
  assert.equal(words('::1'), '0 0 0 1');
  assert.equal(words('::'), '0 0 0 0');
  assert.equal(words('2001:DB8::1'), '20010db8 0 0 1');
  assert.equal(words('1::'), '10000 0 0 0');
  assert.equal(words('1:2:3:4:5:6:7:8'), '10002 30004 50006 70008');
  assert.equal(words('fe80::a:bb:ccc:dddd'), 'fe800000 0 a00bb cccdddd');
  assert.equal(words('::ffff:127.0.0.1'), '0 0 ffff 7f000001');
  assert.equal(words('64:ff9b::10.0.0.1'), '64ff9b 0 0 a000001');
  assert.equal(words('1:2:3:4:5:6:1.2.3.4'), '10002 30004 50006 1020304');
  for (const bad of ['', ':', ':1', '1:', ':::1', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '::1.2.3', '::1.2.3.256', '::1.2.3.4.5', '1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::ffff:1.2.3.04x']) {
    assert.equal(words(bad), false, bad);
  }
});

test('endpoints bracket IPv6', () => {
  assert.equal(endpointText('::1', 5432), '[::1]:5432');
  assert.equal(endpointText('10.0.0.5', 5432), '10.0.0.5:5432');
});
