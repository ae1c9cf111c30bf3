/**
 * Immutable, hash-consed IR nodes. Building the same (op, dtype, sources, arg) twice returns the same
 * object while the first is alive, so equal graphs are identical, common subexpressions are shared,
 * and a node's structural `hash` (derived from content only, never from creation order) is a stable
 * cache key.
 *
 * The intern table holds nodes weakly: a program that traces new mods forever (a new constant per
 * step, say) must not keep every graph it ever built. Equal content still gives one object while any
 * user holds it; once collected, the next build makes a fresh node with the same hash.
 */
import { TraceError } from './errors';
import { hashString } from './hash';
import { checkNode, type NodeArg } from './node-rules';
import type { DType, Op } from './ops';

export type { LoadArg, NodeArg, ScalarArg } from './node-rules';

let nextId = 0;
const MAKE = Symbol('Node.make');
const interned = new Map<string, WeakRef<Node>>();
// A collected node's entry is removed unless a newer node already took its key.
const reaper = new FinalizationRegistry<string>((key) => {
  if (interned.get(key)?.deref() === undefined) interned.delete(key);
});

function argKey(arg: NodeArg): string {
  if (arg === undefined) return '';
  if (typeof arg === 'number') return Object.is(arg, -0) ? '-0' : String(arg);
  if (typeof arg === 'object') return 'rank' in arg ? `L${arg.slot}:${arg.dtype}:${arg.rank}` : `S${arg.slot}:${arg.dtype}`;
  return String(arg);
}

export class Node {
  /** Only nodes made by `Node.make` carry it (`Object.create(Node.prototype)` does not). */
  readonly #genuine = true;
  readonly id = nextId++;
  /** Content hash: same graph → same hash in any process; any differing constant → a different hash. */
  readonly hash: string;

  private constructor(
    token: symbol,
    readonly op: Op,
    readonly dtype: DType,
    readonly src: readonly Node[],
    readonly arg: NodeArg,
  ) {
    // TypeScript's `private` is not enforced at run time: `Reflect.construct(Node, …)` must not
    // make a genuine node around an unchecked payload
    if (token !== MAKE) throw new TraceError('nodes are made with Node.make');
    this.hash = hashString(`${op}|${dtype}|${argKey(arg)}|${src.map((s) => s.hash).join(',')}`);
    Object.freeze(src);
    // renderers read op/arg into kernel text: no field may change after the checks in make()
    Object.freeze(this);
  }

  /** True for nodes built by `Node.make` (checked content, frozen); false for look-alikes. */
  static isNode(x: unknown): x is Node {
    return typeof x === 'object' && x !== null && #genuine in x;
  }

  /**
   * The one way nodes are made: checks the payload and typing rules (TraceError naming the rule),
   * then returns the existing node for equal content.
   */
  static make(op: Op, dtype: DType, src: readonly Node[], arg?: NodeArg): Node {
    if (!Array.isArray(src)) throw new TraceError(`Node.make('${String(op)}'): sources must be an array of nodes`);
    const sources = [...src];
    if (!sources.every((s) => Node.isNode(s))) throw new TraceError(`Node.make('${String(op)}'): every source must be a node made by Node.make`);
    const payload = checkNode(op, dtype, sources, arg);
    const key = `${op}|${dtype}|${sources.map((s) => s.id).join(',')}|${argKey(payload)}`;
    const live = interned.get(key)?.deref();
    if (live) return live;
    const node = new Node(MAKE, op, dtype, sources, payload);
    interned.set(key, new WeakRef(node));
    reaper.register(node, key);
    return node;
  }

  /** Nodes are operands too, so passes (derivative, legalization) build with the same smart constructors. */
  toNode(): Node {
    return this;
  }
}

/** How many entries the intern table holds now (live nodes plus not-yet-reaped dead ones); for tests. */
export function internTableSize(): number {
  return interned.size;
}

/**
 * All nodes reachable from the roots, sources before users (a topological order). Nodes in `stop`
 * are listed but not expanded: a renderer or evaluator that already has their values (hoisted
 * subexpressions) never visits what lies below them. Every renderer and evaluator walks graphs
 * through here, so a look-alike object that did not come from `Node.make` is refused here.
 */
export function topoOrder(roots: readonly Node[], stop?: ReadonlySet<Node> | ReadonlyMap<Node, unknown>): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: { node: Node; expanded: boolean }[] = roots.map((node) => ({ node, expanded: false })).reverse();
  while (stack.length) {
    const top = stack.pop()!;
    if (seen.has(top.node)) continue;
    if (!Node.isNode(top.node)) throw new TraceError('a graph holds an object that is not a node made by Node.make; build graphs with Node.make or the Expr methods');
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
