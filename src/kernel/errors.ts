/** The kernel gave us something we cannot trust: the check must answer UNKNOWN, naming it. */
export class KernelError extends Error {
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`${path}: ${what}`);
  }
}
