import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointText, ipv4Text, ipv6Text, ipv6WordsText, isLoopback } from '../../src/kernel/address';

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

test('loopback for tcp_tw_reuse=2', () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.255.0.9'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  assert.equal(isLoopback('::2'), false);
});

test('endpoints bracket IPv6', () => {
  assert.equal(endpointText('::1', 5432), '[::1]:5432');
  assert.equal(endpointText('10.0.0.5', 5432), '10.0.0.5:5432');
});
