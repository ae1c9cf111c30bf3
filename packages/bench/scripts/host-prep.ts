/**
 * Host time a call spends on block tables before any GPU work, for a repeated call with the same
 * BlockMask (L=8192 document mask, B1 H16 D64 bf16 — a blog shape's mask): what each backend asks
 * for per call (WebGPU: its forward's 64×32 and backward's 64×64 tile tables, one view uploaded per
 * pass; CUDA: the Hopper forward's 128×128 and 128×64 tiles), and a whole CUDA forward call through
 * a stand-in addon (validation, kernel choice, prelude, tables, argument packing, launch; no GPU).
 * Medians of 200 calls after warm-up; the first (converting) call is shown beside.
 * Run: pnpm --filter @flexattn/bench host-prep
 */
import { performance } from 'node:perf_hooks';
import { CudaBackend } from '@flexattn/backend-cuda';
import { createBlockMask } from '@flexattn/blockmask';
import { capture, tablesView, tileTables, traceMaskMod, type BlockMask } from '@flexattn/ir';
import { documentIds } from '../src/cases';

const L = 8192, Hq = 16, E = 64;
const ids = capture(documentIds(L), [L], { name: 'docIds' });
const documents = traceMaskMod((_b, _h, q, kv) => ids.at(q).eq(ids.at(kv)));
const freshMask = () => createBlockMask(documents, { qLen: L, kvLen: L });

function time(name: string, call: (mask: BlockMask) => unknown, runs = 200): void {
  const mask = freshMask();
  const t0 = performance.now();
  call(mask);
  const first = performance.now() - t0;
  for (let i = 0; i < 10; i++) call(mask);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    call(mask);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(`${name.padEnd(52)} repeated call: median ${ms[runs >> 1]!.toFixed(4)} ms (min ${ms[0]!.toFixed(4)}), first call ${first.toFixed(3)} ms`);
}

const tables = (mask: BlockMask, tq: number, tk: number) => tileTables(mask, tq, tk, { batch: 1, heads: Hq });
time('webgpu forward tables (64x32 tiles, kv-major view)', (m) => tablesView(tables(m, 64, 32), 'kv-major'));
time('webgpu backward tables (64x64 tiles, both views)', (m) => {
  const t = tables(m, 64, 64);
  return [tablesView(t, 'kv-major'), tablesView(t, 'q-major')];
});
time('cuda forward tables (128x128 tiles)', (m) => tablesView(tables(m, 128, 128), 'kv-major'));
time('cuda forward tables (128x64 tiles)', (m) => tablesView(tables(m, 128, 64), 'kv-major'));

let ptr = 0x1000n;
const addon = {
  alloc: () => (ptr += 0x100000n), free: () => {}, memsetD8: () => {}, copyHtoD: () => {}, copyDtoH: () => {}, synchronize: () => {},
  compile: async () => ({ cubin: new Uint8Array(1), format: 'cubin', log: '', loweredNames: {} }),
  moduleLoad: () => 1n, moduleUnload: () => {}, moduleGetFunction: () => 1n, funcSetAttribute: () => {}, launch: () => {},
};
const cuda = new CudaBackend(addon as never, { ordinal: 0, name: 'stand-in', computeCapability: [9, 0], totalMem: 0, smCount: 132 }, { cacheDir: false, cudaInclude: '/stand-in' });
const q = { data: new Uint16Array(Hq * L * E), shape: [1, Hq, L, E], dtype: 'bf16' as const };
const mask = freshMask();
const ms: number[] = [];
for (let i = 0; i < 33; i++) {
  const t = performance.now();
  await cuda.flexAttention(q, q, q, { blockMask: mask });
  if (i >= 3) ms.push(performance.now() - t);
}
ms.sort((a, b) => a - b);
console.log(`${'cuda whole forward call, host side (stand-in addon)'.padEnd(52)} repeated call: median ${ms[ms.length >> 1]!.toFixed(3)} ms (min ${ms[0]!.toFixed(3)})`);
