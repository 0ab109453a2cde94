/**
 * Faults in what the kernel gave us, and the one rule for quoting it in a message.
 *
 * The check may run with more privileges than its caller (sudo), and a file it reads may be
 * anything (a copy of /proc whose sysctl is a symlink to /etc/shadow): a message names the
 * file and says what was wrong, and shows of the text at most an excerpt().
 */

const EXCERPT_MAX = 20;

/** Characters a kernel field can legally hold: digits, hex, `:`, `-`, `,`, blanks. */
function legal(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    (code >= 65 && code <= 70) || // A-F
    (code >= 97 && code <= 102) || // a-f
    code === 58 || // :
    code === 45 || // -
    code === 44 || // ,
    code === 32 || // space
    code === 9 // tab (ip_local_port_range separates with one)
  );
}

/**
 * The most a message may show of what was read: its leading characters up to the first
 * one a kernel field cannot hold, at most 20, tabs as spaces, with `...` when the text
 * went on. '' when nothing legible comes first.
 */
export function excerpt(text: string | Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i < text.length && out.length < EXCERPT_MAX; i++) {
    const code = typeof text === 'string' ? text.charCodeAt(i) : text[i];
    if (!legal(code)) break;
    out += code === 9 ? ' ' : String.fromCharCode(code);
  }
  out = out.trimEnd();
  if (out === '') return '';
  // A trailing newline (every sysctl has one) is not "more text".
  let more = false;
  for (let j = i; j < text.length && !more; j++) {
    const code = typeof text === 'string' ? text.charCodeAt(j) : text[j];
    more = code !== 10 && code !== 13 && code !== 32 && code !== 9;
  }
  return more ? `${out}...` : out;
}

/** The kernel gave us something we cannot trust: the check must answer UNKNOWN, naming it. */
export class KernelError extends Error {
  /**
   * @param what what was wrong, in our words (never the text read)
   * @param read the text in question: only its excerpt() is shown
   */
  constructor(
    readonly path: string,
    what: string,
    read?: string | Uint8Array,
  ) {
    const shown = read === undefined ? '' : excerpt(read);
    super(`${path}: ${what}${shown === '' ? '' : ` (read "${shown}")`}`);
  }
}
