/**
 * The hash-cons table holds nodes weakly: equal graphs are one object while alive, and a program
 * tracing a new mod per step does not keep them all. Garbage collection is forced through V8's
 * `gc` (exposed at run time with v8.setFlagsFromString, so no special vitest pool is needed).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { internTableSize } from './node';
import { capture } from './params';
import { traceMaskMod, traceScoreMod } from './trace';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A full collection, then a turn of the event loop for the FinalizationRegistry callbacks, twice. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** A mod of about a dozen nodes whose constants make it distinct from every other `i`. */
const distinctMod = (i: number) => traceScoreMod((s, _b, h, q, kv) => s.mul(1 + i / 1e5).add(kv.sub(q).toFloat().mul(i % 97).add(h.toFloat().mul(i))).div(2).tanh().mul(2));

describe('the intern table', () => {
  it('keeps equal graphs identical while they are alive, even across collections', async () => {
    const table = capture(Float32Array.from([1, 2, 3]), [3]);
    const a = traceScoreMod((s, _b, h) => s.add(table.at(h)).mul(0.5));
    const m = traceMaskMod((_b, _h, q, kv) => q.sub(kv).abs().le(3));
    await collect();
    expect(traceScoreMod((s, _b, h) => s.add(table.at(h)).mul(0.5)).root).toBe(a.root);
    expect(traceMaskMod((_b, _h, q, kv) => q.sub(kv).abs().le(3)).root).toBe(m.root);
  });

  it('does not pin traced mods: 10k distinct mods leave a bounded table and heap (soak)', async () => {
    await collect();
    const tableBefore = internTableSize();
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = 0;
    for (let chunk = 0; chunk < 20; chunk++) {
      for (let i = 0; i < 500; i++) distinctMod(chunk * 500 + i);
      peak = Math.max(peak, internTableSize());
      // a new turn: WeakRefs created in a job keep their targets until it ends
      await new Promise((r) => setTimeout(r, 0));
    }
    await collect();
    const grownBy = internTableSize() - tableBefore;
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    // the mods built ~10 new nodes each (peak shows they were interned); all were dropped
    expect(peak - tableBefore).toBeGreaterThan(5000);
    expect(grownBy).toBeLessThan(200);
    expect(heapGrowth).toBeLessThan(8 * 2 ** 20);
  });
});
