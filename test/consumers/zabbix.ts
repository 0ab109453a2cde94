/**
 * The Zabbix side of the tests (zabbix.test.ts, package.test.ts): Debian's zabbix_agentd in
 * its test mode (`-t KEY`: one item, no server, printed as `KEY [t|VALUE]`), and what a
 * Zabbix 6.0 server does with the value, for the subset of it the template uses:
 * preprocessing (JSONPath as Zabbix implements it, JavaScript, the error handlers),
 * low-level discovery (LLD macro paths, filters, prototypes) and trigger expressions of the
 * form `last(/TEMPLATE/KEY)=N` and `nodata(...)`.
 *
 * The JSONPath here is a small evaluator of Zabbix's dialect (docs: "JSONPath
 * functionality" in the Zabbix 6.0 manual): `$`, `.name`, `['name']`, `[N]`, `[*]`,
 * filters `[?(@.a == "x" && @.b == 3)]`, and the functions `.first()`, `.min()`, `.max()`,
 * `.length()` at the end. A path with a wildcard or a filter is indefinite: it yields an
 * array of the matches (a function then reduces it); no match is an error, as in Zabbix.
 * Anything outside that subset throws, so a template that uses more fails its test.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const ZABBIX_AGENTD = '/usr/sbin/zabbix_agentd';

export interface AgentValue {
  readonly key: string;
  /** 't' for text (the agent's type for UserParameters), 'm' for ZBX_NOTSUPPORTED. */
  readonly type: string;
  readonly value: string;
}

/** `zabbix_agentd -c CONFIG -t KEY`, as `user` (the agent runs as zabbix). */
export function agentTest(config: string, key: string, user?: string): AgentValue {
  const argv = [ZABBIX_AGENTD, '-c', config, '-t', key];
  const r = user ? spawnSync('runuser', ['-u', user, '--', ...argv], { encoding: 'utf8', timeout: 60_000 }) : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 60_000 });
  const m = /^(\S+)\s+\[([a-z])\|([\s\S]*)\]\n?$/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`zabbix_agentd -t ${key}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return { key: m[1], type: m[2], value: m[3] };
}

/** The UserParameter lines of an agent file: key -> command. */
export function userParameters(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^UserParameter=([^,]+),(.*)$/gm)) out.set(m[1], m[2]);
  return out;
}

// ---------------------------------------------------------------- JSONPath (Zabbix's dialect)

type Step = { kind: 'name'; name: string } | { kind: 'index'; index: number } | { kind: 'all' } | { kind: 'filter'; conditions: Condition[] };
interface Condition { path: string[]; literal: string | number }

export class JsonPathError extends Error {}

function parsePath(path: string): { steps: Step[]; fn?: string } {
  if (!path.startsWith('$')) throw new Error(`JSONPath must start with $: ${path}`);
  let rest = path.slice(1);
  let fn: string | undefined;
  const f = /\.(first|min|max|length|sum|avg)\(\)$/.exec(rest);
  if (f) {
    fn = f[1];
    rest = rest.slice(0, f.index);
  }
  const steps: Step[] = [];
  while (rest !== '') {
    let m: RegExpExecArray | null;
    if ((m = /^\.([A-Za-z_][A-Za-z0-9_]*)/.exec(rest))) steps.push({ kind: 'name', name: m[1] });
    else if ((m = /^\['([^']*)'\]/.exec(rest))) steps.push({ kind: 'name', name: m[1] });
    else if ((m = /^\[(\d+)\]/.exec(rest))) steps.push({ kind: 'index', index: Number(m[1]) });
    else if ((m = /^\[\*\]/.exec(rest))) steps.push({ kind: 'all' });
    else if ((m = /^\[\?\((.*?)\)\]/.exec(rest))) steps.push({ kind: 'filter', conditions: m[1].split('&&').map(parseCondition) });
    else throw new Error(`JSONPath outside the supported subset at ${JSON.stringify(rest)} in ${path}`);
    rest = rest.slice(m[0].length);
  }
  return { steps, fn };
}

function parseCondition(text: string): Condition {
  const m = /^\s*@((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*==\s*("([^"]*)"|'([^']*)'|-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!m) throw new Error(`JSONPath filter outside the supported subset: ${text}`);
  const literal = m[3] ?? m[4] ?? Number(m[2]);
  return { path: m[1].slice(1).split('.'), literal };
}

function matches(item: unknown, c: Condition): boolean {
  let v: any = item;
  for (const name of c.path) v = v !== null && typeof v === 'object' ? v[name] : undefined;
  return typeof c.literal === 'number' ? typeof v === 'number' && v === c.literal : typeof v === 'string' && v === c.literal;
}

/** Evaluates a JSONPath on a JSON text as Zabbix's JSONPath preprocessing step does; the result as Zabbix passes it on (a string). */
export function jsonPath(jsonText: string, path: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(jsonText);
  } catch {
    throw new JsonPathError('cannot parse as JSON');
  }
  const { steps, fn } = parsePath(path);
  let nodes: unknown[] = [doc];
  let definite = true;
  for (const step of steps) {
    const next: unknown[] = [];
    for (const node of nodes) {
      if (step.kind === 'name') {
        if (node !== null && typeof node === 'object' && !Array.isArray(node) && step.name in (node as object)) next.push((node as any)[step.name]);
      } else if (step.kind === 'index') {
        if (Array.isArray(node) && step.index < node.length) next.push(node[step.index]);
      } else {
        definite = false;
        const children = Array.isArray(node) ? node : node !== null && typeof node === 'object' ? Object.values(node) : [];
        next.push(...(step.kind === 'all' ? children : children.filter((c) => step.conditions.every((cond) => matches(c, cond)))));
      }
    }
    nodes = next;
  }
  if (nodes.length === 0) throw new JsonPathError(`no data matches ${path}`);
  if (fn !== undefined) {
    const values = definite && Array.isArray(nodes[0]) ? (nodes[0] as unknown[]) : nodes;
    if (fn === 'length') return String(values.length);
    if (values.length === 0) throw new JsonPathError(`${fn}() of nothing`);
    if (fn === 'first') return render(values[0]);
    const numbers = values.map(Number);
    if (numbers.some((n) => !Number.isFinite(n))) throw new JsonPathError(`${fn}() of a non-number`);
    const reduce = { min: Math.min(...numbers), max: Math.max(...numbers), sum: numbers.reduce((a, b) => a + b, 0), avg: numbers.reduce((a, b) => a + b, 0) / numbers.length }[fn as 'min'];
    return String(reduce);
  }
  return definite ? render(nodes[0]) : JSON.stringify(nodes);
}

function render(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// ---------------------------------------------------------------- the template

export interface Preprocessing { type: string; parameters?: string[]; error_handler?: string; error_handler_params?: string }
export interface Item { key: string; type?: string; value_type?: string; preprocessing?: Preprocessing[]; master_item?: { key: string }; triggers?: Trigger[]; trigger_prototypes?: Trigger[] }
export interface Trigger { expression: string; name: string; priority?: string }
export interface DiscoveryRule extends Item { item_prototypes: Item[]; lld_macro_paths?: Array<{ lld_macro: string; path: string }>; filter?: { conditions: Array<{ macro: string; value: string; operator?: string }> } }
export interface Template { template: string; items: Item[]; discovery_rules?: DiscoveryRule[] }

export function loadTemplates(path: string): Template[] {
  const doc = parse(readFileSync(path, 'utf8'));
  if (doc?.zabbix_export?.version !== '6.0') throw new Error(`${path}: not a Zabbix 6.0 export`);
  return doc.zabbix_export.templates as Template[];
}

/** The outcome of an item's preprocessing: a value, no value (discarded), or an error (the item becomes unsupported). */
export type Outcome = { value: string } | { discarded: true } | { error: string };

/** Runs preprocessing steps on a value as the Zabbix server does, error handlers included. */
export function preprocess(value: string, steps: readonly Preprocessing[] = [], macros: Record<string, string> = {}): Outcome {
  let current = value;
  for (const step of steps) {
    const params = (step.parameters ?? []).map((p) => substitute(p, macros));
    try {
      if (step.type === 'JSONPATH') current = jsonPath(current, params[0]);
      else if (step.type === 'JAVASCRIPT') current = runJavaScript(params[0], current);
      else throw new Error(`preprocessing type ${step.type} is not modelled here`);
    } catch (e) {
      if (!(e instanceof JsonPathError) && !(e instanceof ScriptError)) throw e;
      if (step.error_handler === 'CUSTOM_VALUE') current = step.error_handler_params ?? '';
      else if (step.error_handler === 'DISCARD_VALUE') return { discarded: true };
      else return { error: e.message };
    }
  }
  return { value: current };
}

class ScriptError extends Error {}

/** A JAVASCRIPT step: Zabbix wraps the script as `function (value) { SCRIPT }` (Duktape, ES5). */
function runJavaScript(script: string, value: string): string {
  let result: unknown;
  try {
    result = new Function('value', script)(value);
  } catch (e) {
    throw new ScriptError(String(e));
  }
  if (result === undefined || result === null) throw new ScriptError('the script returned nothing');
  return String(result);
}

export function substitute(text: string, macros: Record<string, string>): string {
  return text.replace(/\{#[A-Z0-9_.]+\}/g, (m) => {
    if (!(m in macros)) throw new Error(`LLD macro ${m} has no value`);
    return macros[m];
  });
}

/** Low-level discovery: the rule's preprocessing, its LLD macro paths on every row, then its filter (regular expressions, AND). */
export function discover(rule: DiscoveryRule, masterValue: string): Array<Record<string, string>> {
  const out = preprocess(masterValue, rule.preprocessing);
  if (!('value' in out)) throw new Error(`discovery ${rule.key}: ${JSON.stringify(out)}`);
  const rows = JSON.parse(out.value) as unknown[];
  const macros = rows.map((row) => {
    const m: Record<string, string> = {};
    for (const { lld_macro, path } of rule.lld_macro_paths ?? []) m[lld_macro] = jsonPath(JSON.stringify(row), path);
    return m;
  });
  return macros.filter((m) => (rule.filter?.conditions ?? []).every((c) => {
    if (c.operator && c.operator !== 'MATCHES_REGEX') throw new Error(`filter operator ${c.operator} is not modelled here`);
    return new RegExp(c.value).test(m[c.macro] ?? '');
  }));
}

/** Whether `last(/T/KEY)=N` or `last(/T/KEY)>=N` is true, given the last value of each key. */
export function triggerFires(expression: string, last: ReadonlyMap<string, string>): boolean {
  const m = /^last\(\/[^/]+\/([^)]+)\)(=|>=|<>)(\d+)$/.exec(expression);
  if (!m) throw new Error(`trigger expression outside the modelled forms: ${expression}`);
  const v = last.get(m[1]);
  if (v === undefined) return false;
  const [a, b] = [Number(v), Number(m[3])];
  return m[2] === '=' ? a === b : m[2] === '>=' ? a >= b : a !== b;
}
