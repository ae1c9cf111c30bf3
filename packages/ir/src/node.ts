/**
 * Immutable, hash-consed IR nodes. Building the same (op, dtype, sources, arg) twice returns the same
 * object, so equal graphs are identical, common subexpressions are shared, and a node's structural
 * `hash` (derived from content only, never from creation order) is a stable cache key.
 */
import { hashString } from './hash';
import type { ArgName, DType, Op } from './ops';

/** A load from a captured tensor: which parameter slot, its element dtype and rank. */
export interface LoadArg {
  readonly slot: number;
  readonly dtype: 'f32' | 'i32';
  readonly rank: number;
}
/** A runtime scalar parameter: its slot and dtype. Its value is not part of the graph. */
export interface ScalarArg {
  readonly slot: number;
  readonly dtype: 'f32' | 'i32';
}
export type NodeArg = number | boolean | ArgName | LoadArg | ScalarArg | undefined;

let nextId = 0;
const interned = new Map<string, Node>();

function argKey(arg: NodeArg): string {
  if (arg === undefined) return '';
  if (typeof arg === 'number') return Object.is(arg, -0) ? '-0' : String(arg);
  if (typeof arg === 'object') return 'rank' in arg ? `L${arg.slot}:${arg.dtype}:${arg.rank}` : `S${arg.slot}:${arg.dtype}`;
  return String(arg);
}

export class Node {
  readonly id = nextId++;
  private structuralHash: string | undefined;

  private constructor(
    readonly op: Op,
    readonly dtype: DType,
    readonly src: readonly Node[],
    readonly arg: NodeArg,
  ) {
    Object.freeze(src);
  }

  /** The one way nodes are made: returns the existing node for equal content. */
  static make(op: Op, dtype: DType, src: readonly Node[], arg?: NodeArg): Node {
    const key = `${op}|${dtype}|${src.map((s) => s.id).join(',')}|${argKey(arg)}`;
    let node = interned.get(key);
    if (!node) {
      node = new Node(op, dtype, [...src], arg);
      interned.set(key, node);
    }
    return node;
  }

  /** Nodes are operands too, so passes (derivative, legalization) build with the same smart constructors. */
  toNode(): Node {
    return this;
  }

  /** Content hash: same graph → same hash in any process; any differing constant → a different hash. */
  get hash(): string {
    this.structuralHash ??= hashString(`${this.op}|${this.dtype}|${argKey(this.arg)}|${this.src.map((s) => s.hash).join(',')}`);
    return this.structuralHash;
  }
}

/**
 * All nodes reachable from the roots, sources before users (a topological order). Nodes in `stop`
 * are listed but not expanded: a renderer or evaluator that already has their values (hoisted
 * subexpressions) never visits what lies below them.
 */
export function topoOrder(roots: readonly Node[], stop?: ReadonlySet<Node> | ReadonlyMap<Node, unknown>): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: { node: Node; expanded: boolean }[] = roots.map((node) => ({ node, expanded: false })).reverse();
  while (stack.length) {
    const top = stack.pop()!;
    if (seen.has(top.node)) continue;
    if (top.expanded) {
      seen.add(top.node);
      order.push(top.node);
      continue;
    }
    stack.push({ node: top.node, expanded: true });
    if (stop?.has(top.node)) continue;
    for (let i = top.node.src.length - 1; i >= 0; i--) {
      const s = top.node.src[i]!;
      if (!seen.has(s)) stack.push({ node: s, expanded: false });
    }
  }
  return order;
}
