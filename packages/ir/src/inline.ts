/**
 * inlineMod: a traced mod called from inside another trace, with new argument expressions — so a
 * wrapper can shift a mask's query index (BlockMask rows of a decode step) or map physical KV slots
 * to logical positions (a paged KV cache) around a mod it only has as a TracedMod. The graph is
 * rebuilt node by node through the smart constructors (so it simplifies and hash-conses like any
 * traced graph), and its captured tensors and scalars get slots in the enclosing trace.
 */
import type { Operand } from './build';
import { lift, rebuild } from './build';
import { OptionError, TraceError } from './errors';
import { Expr } from './expr';
import { type LoadArg, Node, type ScalarArg, topoOrder } from './node';
import type { ArgName } from './ops';
import { CapturedTensor, type ModParam, Scalar } from './params';
import { currentTrace } from './trace-context';
import { rebound, type TracedMod } from './trace';

/** The arguments a mod is called with: score for score mods; b, h, q, kv (i32) for both kinds. */
export interface InlineArgs {
  score?: Operand;
  b: Operand;
  h: Operand;
  q: Operand;
  kv: Operand;
}

/** The value of `mod` at `args`, as an expression of the trace that is running now. */
export function inlineMod(mod: TracedMod, args: InlineArgs): Expr {
  const ctx = currentTrace(`inlineMod(${mod.name})`);
  if (mod.kind === 'score' && args.score === undefined) throw new TraceError(`inlineMod(${mod.name}): a score mod needs the score argument`);
  const argNodes = new Map<ArgName, Node>();
  for (const name of ['score', 'b', 'h', 'q', 'kv'] as const) {
    const a = args[name];
    if (a === undefined) continue;
    const n = lift(a, name === 'score' ? 'f32' : 'i32');
    const want = name === 'score' ? 'f32' : 'i32';
    if (n.dtype !== want) throw new TraceError(`inlineMod(${mod.name}): argument ${name} has dtype ${n.dtype}; it must be ${want}`);
    argNodes.set(name, n);
  }
  const mapped = new Map<Node, Node>();
  for (const n of topoOrder([mod.root])) {
    let out: Node;
    switch (n.op) {
      case 'const':
        out = n;
        break;
      case 'arg': {
        const a = argNodes.get(n.arg as ArgName);
        if (!a) throw new TraceError(`inlineMod(${mod.name}): the mod reads '${String(n.arg)}' but no value was given for it`);
        out = a;
        break;
      }
      case 'scalar': {
        const arg = n.arg as ScalarArg;
        out = Node.make('scalar', n.dtype, [], { slot: ctx.slotOf(mod.captures[arg.slot]!), dtype: arg.dtype });
        break;
      }
      case 'load': {
        const arg = n.arg as LoadArg;
        out = Node.make('load', n.dtype, n.src.map((s) => mapped.get(s)!), { slot: ctx.slotOf(mod.captures[arg.slot]!), dtype: arg.dtype, rank: arg.rank });
        break;
      }
      default:
        out = rebuild(n.op, n.dtype, n.src.map((s) => mapped.get(s)!));
    }
    mapped.set(n, out);
  }
  return new Expr(mapped.get(mod.root)!);
}

const signature = (p: ModParam): string =>
  p instanceof CapturedTensor ? `tensor ${p.dtype}[${p.shape.join(', ')}]${p.requiresGrad ? ' (requiresGrad)' : ''}` : `scalar ${p.dtype}`;

/**
 * The same mod over other runtime parameters: each key of `replace` swapped for its value, which
 * must have the same kind, dtype and shape. The graph — hence the hash, hence every compiled
 * kernel — stays; what a wrapper traces once (around a placeholder) serves new data without
 * tracing again (a decode step's query offsets, a paged cache's page table).
 */
export function rebindParams(mod: TracedMod, replace: ReadonlyMap<ModParam, ModParam>): TracedMod {
  const captures = mod.captures.map((c) => {
    const r = replace.get(c);
    if (r === undefined) return c;
    if (!sameSignature(r, c)) {
      const what = CapturedTensor.isCapturedTensor(r) || Scalar.isScalar(r) ? `a ${signature(r)}` : 'not a tensor from capture() or a scalar from scalar()';
      throw new OptionError(`rebindParams(${mod.name}): ${c.name} is a ${signature(c)} but its replacement ${String(r.name)} is ${what}; they must match`);
    }
    return r;
  });
  // Same graph, parameters of the same signatures: the mod's checks and hash carry over.
  return rebound(mod, captures);
}

/** Whether `r` is a genuine parameter with the signature of `c` (what the graph's loads and the hash see). */
function sameSignature(r: ModParam, c: ModParam): boolean {
  if (CapturedTensor.isCapturedTensor(c)) {
    if (!CapturedTensor.isCapturedTensor(r) || r.dtype !== c.dtype || r.requiresGrad !== c.requiresGrad || r.shape.length !== c.shape.length) return false;
    for (let i = 0; i < c.shape.length; i++) if (r.shape[i] !== c.shape[i]) return false;
    return true;
  }
  return Scalar.isScalar(r) && r.dtype === c.dtype;
}
