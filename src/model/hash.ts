/**
 * murmur3's finaliser: every input bit moves every output bit. The open-addressing tables
 * (addresses, NAT pools) mix their keys' words with it before masking to a slot.
 */
export function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
