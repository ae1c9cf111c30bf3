/** What a mask's graph reads. */
import { topoOrder, type TracedMod } from '@flexattn/ir';

/** Which of b / h the mask reads (an `arg b` / `arg h` node in its graph). */
export function argsRead(mask: TracedMod): { b: boolean; h: boolean } {
  let b = false;
  let h = false;
  for (const n of topoOrder([mask.root])) {
    if (n.op !== 'arg') continue;
    if (n.arg === 'b') b = true;
    else if (n.arg === 'h') h = true;
  }
  return { b, h };
}
