// Bundled into the browser page: one forward pass through navigator.gpu, returned to the test.
// f16 inputs arrive as their bit patterns; `f16Storage` says whether they stayed f16 on the device.
import { capture, traceMaskMod, traceScoreMod, blockMaskByEvaluation, toFloat64, type Tensor } from '@flexattn/ir';
import { createWebGPUBackend } from './index.js';

declare global {
  interface Window {
    runFlex(input: { q: number[]; k: number[]; v: number[]; shape: number[]; slopes: number[]; dtype?: 'f32' | 'f16' }): Promise<
      { out: number[]; lse: number[]; device: string; f16Storage: boolean } | { error: string }
    >;
  }
}

window.runFlex = async ({ q, k, v, shape, slopes, dtype = 'f32' }) => {
  try {
    const [B, H, L, D] = shape as [number, number, number, number];
    const t = (d: number[]): Tensor =>
      dtype === 'f16' ? { data: Uint16Array.from(d), shape: [B, H, L, D], dtype } : { data: Float32Array.from(d), shape: [B, H, L, D], dtype };
    const be = await createWebGPUBackend();
    const sl = capture(Float32Array.from(slopes), [H], { name: 'slopes' });
    const r = await be.flexAttention(t(q), t(k), t(v), {
      scoreMod: traceScoreMod((s, _b, h, qi, kv) => s.add(sl.at(h).mul(kv.sub(qi)))),
      blockMask: blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: L, kvLen: L, blockSize: 8 }),
      returnLse: true,
    });
    const res = { out: Array.from(toFloat64(r.out)), lse: Array.from(toFloat64(r.lse!)), device: be.deviceDescription, f16Storage: be.f16Storage };
    be.dispose();
    return res;
  } catch (e) {
    return { error: String((e as Error).stack ?? e) };
  }
};
