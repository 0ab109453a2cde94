/**
 * Plain decimal text for a number: never exponent form (Sensu reads `1e21` as 121), never
 * NaN or Infinity. At most `decimals` decimals (three for perfdata), trailing zeros dropped.
 */
export function formatNumber(n: number, decimals = 3): string {
  if (!Number.isFinite(n)) throw new Error(`cannot print ${n} as a plain number`);
  // toFixed switches to exponent form from 1e21 on; BigInt prints any integer plainly, and
  // from 1e15 on a double has no decimals left to print anyway.
  if (Math.abs(n) >= 1e15) return BigInt(Math.round(n)).toString();
  const text = n.toFixed(decimals).replace(/\.?0+$/, '');
  return text === '-0' ? '0' : text;
}
