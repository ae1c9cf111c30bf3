/**
 * The tracing context: while a mod runs under traceScoreMod/traceMaskMod, the captured tensors and
 * scalars it touches are given parameter slots in order of first use. Slots (not data) enter the
 * graph, so the same mod over different tensor data has the same hash.
 */
import { TraceError } from './errors';

export interface TraceParam {
  readonly kind: 'tensor' | 'scalar';
}

export class TraceContext {
  readonly params: TraceParam[] = [];
  private readonly slots = new Map<TraceParam, number>();

  slotOf(param: TraceParam): number {
    let slot = this.slots.get(param);
    if (slot === undefined) {
      slot = this.params.length;
      this.params.push(param);
      this.slots.set(param, slot);
    }
    return slot;
  }
}

const stack: TraceContext[] = [];

export function runInTrace<T>(ctx: TraceContext, fn: () => T): T {
  stack.push(ctx);
  try {
    return fn();
  } finally {
    stack.pop();
  }
}

export function currentTrace(what: string): TraceContext {
  const ctx = stack[stack.length - 1];
  if (!ctx) {
    throw new TraceError(
      `${what} can only be used inside a mod while it is traced: write it in the body of the scoreMod/maskMod function (traceScoreMod/traceMaskMod or a backend call runs it)`,
    );
  }
  return ctx;
}
