/**
 * Hoisting plan for kernels that evaluate mods over a tile of (q, kv) pairs: the parts of a mod
 * that depend only on (b, h, q) are computed once per query row, the parts that depend only on
 * (b, h, kv) once per key column, and only the rest per (q, kv) element. A document mask
 * `doc[q] == doc[kv]` then costs one load per row and one per column instead of two per element;
 * ALiBi's `slope[h]` is read once per row.
 *
 * Also: a small integer range analysis over the index arguments, so a renderer can convert an
 * index difference such as `kv - q` to float without the slow int→float conversion unit.
 */
import { TraceError } from '../errors';
import { Node, topoOrder } from '../node';
import type { ArgName } from '../ops';

/** Bit of each hook argument in argDependence's sets. */
export const ARG_BIT: Readonly<Record<ArgName, number>> = Object.freeze({ score: 1, b: 2, h: 4, q: 8, kv: 16 });
const ROW_ONLY = ARG_BIT.b | ARG_BIT.h | ARG_BIT.q;
const COL_ONLY = ARG_BIT.b | ARG_BIT.h | ARG_BIT.kv;

export interface HoistPlan {
  /** Maximal subexpressions of (b, h, q) and parameters only, in topological order. */
  row: Node[];
  /** Maximal subexpressions of (b, h, kv) and parameters only, in topological order. */
  col: Node[];
}

/** Which hook arguments each node of the graphs depends on. */
export function argDependence(roots: readonly Node[]): Map<Node, number> {
  const deps = new Map<Node, number>();
  for (const n of topoOrder(roots)) {
    let d = n.op === 'arg' ? ARG_BIT[n.arg as ArgName] : 0;
    for (const s of n.src) d |= deps.get(s)!;
    deps.set(n, d);
  }
  return deps;
}

/** Leaves and casts of leaves cost nothing to recompute: hoisting them would only spend registers. */
function worthHoisting(n: Node): boolean {
  if (n.op === 'const' || n.op === 'arg' || n.op === 'scalar') return false;
  return true;
}

/**
 * The nodes to compute per row and per column: those whose dependences fit in (b, h, q) or
 * (b, h, kv), that something per-element uses (or that are roots), and that are worth it. Nodes
 * depending on neither q nor kv (b/h-only) count as row values: the row loop runs once per tile
 * row, which is the outermost place a kernel has.
 */
export function planHoist(roots: readonly Node[]): HoistPlan {
  const deps = argDependence(roots);
  const fits = (n: Node, mask: number) => (deps.get(n)! & ~mask) === 0;
  const rowish = (n: Node) => fits(n, ROW_ONLY);
  const colish = (n: Node) => fits(n, COL_ONLY) && !rowish(n);
  const row = new Set<Node>();
  const col = new Set<Node>();
  const consider = (n: Node, parentIsElement: boolean) => {
    if (!parentIsElement || !worthHoisting(n)) return;
    if (rowish(n)) row.add(n);
    else if (colish(n)) col.add(n);
  };
  for (const n of topoOrder(roots)) {
    const element = !rowish(n) && !colish(n);
    for (const s of n.src) consider(s, element);
  }
  // a root that is itself row- or column-only (e.g. a mask `q < 100`) is still evaluated per element
  // by its kernel, so it is hoisted as a whole
  for (const r of roots) consider(r, true);
  const order = topoOrder(roots);
  return { row: order.filter((n) => row.has(n)), col: order.filter((n) => col.has(n)) };
}

/** Inclusive bounds of the index arguments (score has no integer range). */
export interface IndexBounds {
  b: readonly [number, number];
  h: readonly [number, number];
  q: readonly [number, number];
  kv: readonly [number, number];
}

/**
 * The range of an i32 node built from index arguments, integer constants and + − × neg abs min max;
 * undefined when the node reads anything else (loads, scalars, divisions, casts of floats) or when a
 * bound leaves the exactly representable range of doubles. Sound: every value the node takes for
 * arguments inside `bounds` lies in the returned range.
 */
export function indexRange(node: Node, bounds: IndexBounds): readonly [number, number] | undefined {
  const memo = new Map<Node, readonly [number, number] | undefined>();
  const visit = (n: Node): readonly [number, number] | undefined => {
    if (memo.has(n)) return memo.get(n);
    // renderers turn these bounds into text: only checked nodes' constants may become bounds
    if (!Node.isNode(n)) throw new TraceError('indexRange: not a node made by Node.make');
    let r: readonly [number, number] | undefined;
    if (n.dtype !== 'i32') r = undefined;
    else if (n.op === 'const') r = [n.arg as number, n.arg as number];
    else if (n.op === 'arg') r = n.arg === 'score' ? undefined : bounds[n.arg as Exclude<ArgName, 'score'>];
    else {
      const s = n.src.map(visit);
      const [a, b] = s;
      if (s.some((x) => x === undefined)) r = undefined;
      else if (n.op === 'add') r = [a![0] + b![0], a![1] + b![1]];
      else if (n.op === 'sub') r = [a![0] - b![1], a![1] - b![0]];
      else if (n.op === 'neg') r = [-a![1], -a![0]];
      else if (n.op === 'mul') {
        const p = [a![0] * b![0], a![0] * b![1], a![1] * b![0], a![1] * b![1]];
        r = [Math.min(...p), Math.max(...p)];
      } else if (n.op === 'abs') r = a![0] >= 0 ? a : a![1] <= 0 ? [-a![1], -a![0]] : [0, Math.max(-a![0], a![1])];
      else if (n.op === 'min') r = [Math.min(a![0], b![0]), Math.min(a![1], b![1])];
      else if (n.op === 'max') r = [Math.max(a![0], b![0]), Math.max(a![1], b![1])];
      else r = undefined;
      // i32 arithmetic wraps: a range past the i32 limits is not a range of the computed values
      if (r && (r[0] < -2147483648 || r[1] > 2147483647)) r = undefined;
    }
    memo.set(n, r);
    return r;
  };
  return visit(node);
}
