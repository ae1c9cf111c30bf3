/**
 * The checks behind `new TracedMod(...)`, which is public: compileToJs and every renderer trust a
 * TracedMod's root and captures, so the constructor accepts only genuine nodes and parameters
 * (`Node.make`, `capture`, `scalar`), and every load and scalar slot in the graph must name a
 * parameter of that kind, dtype and rank. Anything else is a TraceError, never generated code.
 */
import { TraceError } from './errors';
import { Node, topoOrder } from './node';
import type { LoadArg, ScalarArg } from './node';
import { CapturedTensor, type ModParam, Scalar } from './params';

export function checkTracedMod(kind: unknown, root: unknown, captures: unknown, name: unknown): void {
  if (kind !== 'score' && kind !== 'mask') throw new TraceError(`a traced mod's kind is 'score' or 'mask', got ${String(kind)}`);
  if (typeof name !== 'string') throw new TraceError('a traced mod needs a string name');
  if (!Node.isNode(root)) throw new TraceError('a traced mod needs a root made by Node.make (trace with traceScoreMod / traceMaskMod)');
  const want = kind === 'score' ? 'f32' : 'bool';
  if (root.dtype !== want) throw new TraceError(`a ${kind} mod's root has dtype ${want}, got ${root.dtype}`);
  checkGraphParams([root], captures);
}

/**
 * Every capture is genuine, and every load/scalar slot in the graphs names a parameter of that kind,
 * dtype and rank (compileToJs bakes a tensor's shape and strides into its source).
 */
export function checkGraphParams(roots: readonly Node[], captures: unknown): asserts captures is readonly ModParam[] {
  if (!Array.isArray(captures)) throw new TraceError('a traced mod needs an array of captures');
  const params = captures as readonly ModParam[];
  params.forEach((c, slot) => {
    if (!CapturedTensor.isCapturedTensor(c) && !Scalar.isScalar(c)) {
      throw new TraceError(`capture #${slot} is not a tensor from capture() or a scalar from scalar()`);
    }
  });
  for (const n of topoOrder(roots)) {
    if (n.op === 'load') {
      const { slot, dtype, rank } = n.arg as LoadArg;
      const t = params[slot];
      if (!CapturedTensor.isCapturedTensor(t) || t.dtype !== dtype || t.shape.length !== rank) {
        throw new TraceError(`the graph loads a ${dtype} tensor of rank ${rank} from slot #${slot}, but capture #${slot} is not one`);
      }
    } else if (n.op === 'scalar') {
      const { slot, dtype } = n.arg as ScalarArg;
      const p = params[slot];
      if (!Scalar.isScalar(p) || p.dtype !== dtype) throw new TraceError(`the graph reads a ${dtype} scalar from slot #${slot}, but capture #${slot} is not one`);
    }
  }
}
