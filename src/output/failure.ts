/**
 * Every answer that is not a verdict: a usage error, --help, --version, an UNKNOWN. Each
 * output format renders it (renderTextFailure, renderJsonFailure, renderPrometheusFailure);
 * run.ts picks the one the caller asked for, once that option itself parsed, so a script
 * that reads JSON gets JSON on exactly the runs that went wrong. The exit code is 3.
 */
export type Failure =
  | { readonly kind: 'unknown'; readonly message: string }
  | { readonly kind: 'usage'; readonly message: string; readonly usage: string }
  | { readonly kind: 'help'; readonly version: string; readonly help: string }
  | { readonly kind: 'version'; readonly version: string };

/** The one line that says what happened. */
export function failureSummary(failure: Failure): string {
  switch (failure.kind) {
    case 'unknown':
    case 'usage':
      return failure.message;
    case 'help':
      return `check_ephemeral_ports ${failure.version}: help`;
    case 'version':
      return `check_ephemeral_ports ${failure.version}`;
  }
}
