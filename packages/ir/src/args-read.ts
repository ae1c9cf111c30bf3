/** Which of the index arguments b / h a mod's graph reads — what decides whether a BlockMask may be shared across batches or heads. */
import { topoOrder, type Node } from './node';
import type { TracedMod } from './trace';

export interface ArgsRead {
  b: boolean;
  h: boolean;
}

/** Graphs are hash-consed and immutable, so the answer is memoised on the root node. */
const memo = new WeakMap<Node, ArgsRead>();

/** Whether `mod` reads b / h (an `arg b` / `arg h` node in its graph after simplification). */
export function argsRead(mod: TracedMod): ArgsRead {
  let reads = memo.get(mod.root);
  if (!reads) {
    reads = { b: false, h: false };
    for (const n of topoOrder([mod.root])) {
      if (n.op !== 'arg') continue;
      if (n.arg === 'b') reads.b = true;
      else if (n.arg === 'h') reads.h = true;
    }
    memo.set(mod.root, Object.freeze(reads));
  }
  return reads;
}
