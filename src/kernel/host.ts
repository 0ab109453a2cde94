/**
 * The only door to the host. Everything behind it is pure and takes plain data, so tests
 * hand the check a fixture tree (--proc) or a fake host instead of a live kernel.
 */
export interface OpenFile {
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

export interface Host {
  /** A small file as text; undefined when it does not exist. */
  readText(path: string): Promise<string | undefined>;
  /** A file to stream; undefined when it does not exist. */
  open(path: string): Promise<OpenFile | undefined>;
  readonly littleEndian: boolean;
}
