import { KernelError } from './errors';

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

/** A parser of whole lines: both socket sources' parsers have this shape. */
export interface LineParser {
  /** Parses every complete line in buf[0, end); returns where the incomplete tail starts. */
  feed(buf: Uint8Array, end: number): number;
  /** The bytes left at the end (a last line without newline). */
  finish(buf: Uint8Array, end: number): void;
}

/**
 * One buffer between a byte stream and a line parser: complete lines are parsed as they
 * arrive, the incomplete tail is carried to the front for the next read. Memory stays at
 * one buffer, whatever the stream's size.
 */
export class LineCarry {
  private readonly buf: Uint8Array;
  private filled = 0;

  constructor(
    private readonly parser: LineParser,
    /** Names the stream in the error for an overlong line. */
    private readonly source: string,
    size = 256 * 1024,
  ) {
    this.buf = new Uint8Array(size);
  }

  /** Reads straight into the free space (no copy); false at end of stream. */
  async readFrom(read: (into: Uint8Array, offset: number, length: number) => Promise<number>): Promise<boolean> {
    this.ensureRoom();
    const n = await read(this.buf, this.filled, this.buf.length - this.filled);
    if (n === 0) return false;
    this.parsed(n);
    return true;
  }

  /** Copies a pushed chunk in, parsing as the buffer fills. */
  push(chunk: Uint8Array): void {
    for (let offset = 0; offset < chunk.length; ) {
      this.ensureRoom();
      const n = Math.min(chunk.length - offset, this.buf.length - this.filled);
      this.buf.set(chunk.subarray(offset, offset + n), this.filled);
      offset += n;
      this.parsed(n);
    }
  }

  finish(): void {
    this.parser.finish(this.buf, this.filled);
  }

  private ensureRoom(): void {
    if (this.filled === this.buf.length) throw new KernelError(this.source, `a line longer than ${this.buf.length} bytes`);
  }

  private parsed(added: number): void {
    this.filled += added;
    const consumed = this.parser.feed(this.buf, this.filled);
    this.buf.copyWithin(0, consumed, this.filled);
    this.filled -= consumed;
  }
}
