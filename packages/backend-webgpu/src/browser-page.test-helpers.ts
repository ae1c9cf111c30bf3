// Bundled into the browser page: one forward pass through navigator.gpu, returned to the test.
import { capture, traceMaskMod, traceScoreMod, blockMaskByEvaluation, type Tensor } from '@flexattn/ir';
import { createWebGPUBackend } from './index.js';

declare global {
  interface Window {
    runFlex(input: { q: number[]; k: number[]; v: number[]; shape: number[]; slopes: number[] }): Promise<{ out: number[]; lse: number[]; device: string } | { error: string }>;
  }
}

window.runFlex = async ({ q, k, v, shape, slopes }) => {
  try {
    const [B, H, L, D] = shape as [number, number, number, number];
    const t = (d: number[]): Tensor => ({ data: Float32Array.from(d), shape: [B, H, L, D], dtype: 'f32' });
    const be = await createWebGPUBackend();
    const sl = capture(Float32Array.from(slopes), [H], { name: 'slopes' });
    const r = await be.flexAttention(t(q), t(k), t(v), {
      scoreMod: traceScoreMod((s, _b, h, qi, kv) => s.add(sl.at(h).mul(kv.sub(qi)))),
      blockMask: blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: L, kvLen: L, blockSize: 8 }),
      returnLse: true,
    });
    const res = { out: Array.from(r.out.data), lse: Array.from(r.lse!.data), device: be.deviceDescription };
    be.dispose();
    return res;
  } catch (e) {
    return { error: String((e as Error).stack ?? e) };
  }
};
