/**
 * The shape of src/: rooms ranked from the host's door up to the entry point. An import
 * goes to a lower room or stays in its own; rooms of one rank are peers and never import
 * each other (the socket tables never read the counts: the namespace's reading hands them
 * over). No import circle, not even of types. And no function takes more than five
 * parameters, but the sinks' per-record calls of the hot path (an object per socket would
 * cost), which say so.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const SRC = join(__dirname, '..', '..', 'src');

/** Rank of each room; a room is a folder under src/ (sources/X each its own room). */
const RANKS: Record<string, number> = {
  host: 0,
  nagios: 0,
  model: 1,
  'sources/sysctls': 2,
  'sources/counts': 2,
  'sources/sockets': 2,
  'sources/conntrack': 2,
  'sources/ruleset': 2,
  'sources/trace': 2,
  pools: 3,
  nat: 3,
  failures: 3,
  verdict: 4,
  namespaces: 5,
  owners: 6,
  cli: 7,
  check: 8,
  output: 9,
  '.': 10,
};

/** Per-record calls of a socket sink and its parsers: the hot path, called once per socket. */
const HOT_PATH_MARK = 'hot path: one call per socket';
const MAX_PARAMETERS = 5;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function roomOf(file: string): string {
  const rel = relative(SRC, dirname(file)).split('/');
  if (rel[0] === '') return '.';
  return rel[0] === 'sources' ? `sources/${rel[1]}` : rel[0];
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)'/gms)].map((m) => m[1]);
  return specs
    .map((spec) => normalize(join(dirname(file), spec)))
    .flatMap((target) => {
      for (const candidate of [`${target}.ts`, join(target, 'index.ts')]) {
        try {
          if (statSync(candidate).isFile()) return [candidate];
        } catch {
          // not this one
        }
      }
      return []; // ../package.json and the like
    });
}

/** Imports that go up, or sideways to a peer room. */
function wrongWay(graph: ReadonlyMap<string, readonly string[]>, roomOf: (file: string) => string): string[] {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = roomOf(file);
    for (const target of targets) {
      const to = roomOf(target);
      if (from !== to && !(RANKS[to] < RANKS[from])) wrong.push(`${file} (${from}, rank ${RANKS[from]}) imports ${target} (${to}, rank ${RANKS[to]})`);
    }
  }
  return wrong;
}

/** Tarjan's strongly connected components: any of more than one file (or a self-import) is a circle. */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let index = 0;
  const at = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    at.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!at.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, at.get(w)!));
    }
    if (low.get(v) === at.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!at.has(v)) visit(v);
  return found;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [relative(SRC, f), importsOf(f).map((t) => relative(SRC, t))]));
const roomOfRelative = (file: string) => roomOf(join(SRC, file));

describe('the shape of src/', () => {
  it('every room has a rank', () => {
    const unranked = [...new Set(files.map(roomOf))].filter((room) => RANKS[room] === undefined);
    assert.deepEqual(unranked, [], 'give each new room a rank in this test (and in docs/architecture.md)');
  });

  it('imports go down, never up and never sideways to a peer', () => {
    assert.deepEqual(wrongWay(graph, roomOfRelative), []);
  });

  it('no import circle, types included', () => {
    assert.deepEqual(circles(graph), []);
  });

  it(`no function takes more than ${MAX_PARAMETERS} parameters, but the hot path's per-record calls`, () => {
    const tooMany: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const walk = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && node.parameters.length > MAX_PARAMETERS) {
          const comments = (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []).map((c) => text.slice(c.pos, c.end)).join('\n');
          const { line } = source.getLineAndCharacterOfPosition(node.getStart());
          if (!comments.includes(HOT_PATH_MARK)) tooMany.push(`${relative(SRC, file)}:${line + 1} (${node.parameters.length} parameters)`);
        }
        ts.forEachChild(node, walk);
      };
      walk(source);
    }
    assert.deepEqual(tooMany, []);
  });

  it('the rules can fail: a circle, an upward and a sideways import are seen', () => {
    const made = new Map([
      ['pools/a.ts', ['pools/b.ts']],
      ['pools/b.ts', ['verdict/c.ts']],
      ['verdict/c.ts', ['pools/a.ts', 'sources/counts/d.ts']],
      ['sources/counts/d.ts', ['sources/sockets/e.ts']],
      ['sources/sockets/e.ts', []],
    ]);
    assert.deepEqual(circles(made), [['pools/a.ts', 'pools/b.ts', 'verdict/c.ts']]);
    assert.deepEqual(wrongWay(made, roomOfRelative), [
      'pools/b.ts (pools, rank 3) imports verdict/c.ts (verdict, rank 4)',
      'sources/counts/d.ts (sources/counts, rank 2) imports sources/sockets/e.ts (sources/sockets, rank 2)',
    ]);
    assert.ok(graph.size > 40, 'the walk found the sources');
  });
});
