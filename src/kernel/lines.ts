const NEWLINE = 10;

/**
 * Hands each complete line of buf[0, end) to onLine as byte offsets (no string per line),
 * and returns where the incomplete tail starts, for the caller to carry into its next read.
 */
export function eachCompleteLine(buf: Uint8Array, end: number, onLine: (start: number, end: number) => void): number {
  // A view that ends at `end`: Uint8Array#indexOf would search on through the stale rest
  // of the buffer (/proc/net tables come one page per read), and Buffer's is faster.
  const view = Buffer.from(buf.buffer, buf.byteOffset, end);
  let start = 0;
  for (;;) {
    const newline = view.indexOf(NEWLINE, start);
    if (newline === -1) return start;
    onLine(start, newline);
    start = newline + 1;
  }
}
