/**
 * createBlockMask speed: medians over many runs after warm-up, one thread, against the targets of
 * issue 4 and PyTorch's create_block_mask on an H100 (../../shared/anchors/h100.md). Exits non-zero
 * when a target is missed. Run: pnpm --filter @flexattn/blockmask bench
 */
import { performance } from 'node:perf_hooks';
import type { MaskMod } from '@flexattn/ir';
import { createBlockMask, lastBuildStats } from '../src/index';
import { causal, documentIds, documentMask, prefixLm, slidingWindow } from './masks';

interface Case {
  name: string;
  mod: MaskMod;
  L: number;
  B?: number;
  H?: number;
  targetMs?: number;
  /** PyTorch create_block_mask on an H100, ms (anchor shape in `torchShape`). */
  torchMs?: number;
  torchShape?: string;
}

const cases: Case[] = [
  { name: 'causal', mod: causal, L: 8192, targetMs: 0.2, torchMs: 2.136, torchShape: 'B2 H16 L8192' },
  { name: 'sliding window 1024', mod: slidingWindow(1024), L: 8192, targetMs: 0.2, torchMs: 2.698, torchShape: 'B2 H16 L8192' },
  { name: 'prefix-LM 2048', mod: prefixLm(2048), L: 8192, targetMs: 0.2, torchMs: 2.23, torchShape: 'B2 H16 L8192' },
  { name: 'document (30 docs)', mod: documentMask(documentIds(8192, 30)), L: 8192, targetMs: 2, torchMs: 5.955, torchShape: 'B2 H16 L8192' },
  { name: 'causal B2 H16', mod: causal, L: 8192, B: 2, H: 16, torchMs: 2.136, torchShape: 'B2 H16 L8192' },
  { name: 'causal', mod: causal, L: 131072, targetMs: 50 },
  { name: 'sliding window 1024', mod: slidingWindow(1024), L: 131072, targetMs: 50 },
  { name: 'prefix-LM 32768', mod: prefixLm(32768), L: 131072, targetMs: 50 },
  { name: 'document (30 docs)', mod: documentMask(documentIds(131072, 30)), L: 131072 },
];

/** Timed as users call it: the mask function itself, traced on every call (compiled code is cached by graph). */
function measure(mod: MaskMod, c: Case): { median: number; min: number; runs: number; first: number } {
  const opts = { B: c.B, H: c.H, qLen: c.L, kvLen: c.L, blockSize: 128 };
  const f0 = performance.now();
  createBlockMask(mod, opts);
  const first = performance.now() - f0;
  const budgetMs = c.L > 32768 ? 3000 : 1500;
  for (let i = 0, t0 = performance.now(); i < 20 || performance.now() - t0 < 200; i++) createBlockMask(mod, opts); // warm-up
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 15 || (performance.now() - t0 < budgetMs && times.length < 2000)) {
    const s = performance.now();
    createBlockMask(mod, opts);
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return { median: times[times.length >> 1]!, min: times[0]!, runs: times.length, first };
}

const rows: string[][] = [];
let missed = 0;
for (const c of cases) {
  const { median, min, runs, first } = measure(c.mod, c);
  const mask = createBlockMask(c.mod, { B: c.B, H: c.H, qLen: c.L, kvLen: c.L, blockSize: 128 });
  const stats = lastBuildStats()!;
  const blocks = mask.B * mask.H * mask.qBlocks * mask.kvBlocks;
  const bytes = [mask.kvNumBlocks, mask.kvIndices, mask.fullKvNumBlocks, mask.fullKvIndices, mask.qNumBlocks, mask.qIndices, mask.fullQNumBlocks, mask.fullQIndices]
    .reduce((s, a) => s + a.byteLength, 0) + mask.qBlocks * mask.kvBlocks; // + the dense scratch of one plane
  const ok = c.targetMs === undefined || median < c.targetMs;
  if (!ok) missed++;
  rows.push([
    `${c.name}`, `B${mask.B} H${mask.H} L${c.L}`, `${blocks}`, median.toFixed(3), min.toFixed(3), `${runs}`, first.toFixed(2),
    c.targetMs === undefined ? '—' : `< ${c.targetMs}`, c.targetMs === undefined ? '' : ok ? 'ok' : 'MISSED',
    c.torchMs === undefined ? '—' : `${c.torchMs} (${c.torchShape})`,
    `${stats.boxes}/${stats.exactBlocks}/${stats.evaluations}`, `${(bytes / 2 ** 20).toFixed(2)} MiB (${(bytes / blocks).toFixed(1)} B/block)`,
    mask.sparsity().toFixed(1),
  ]);
}

const header = ['mask', 'shape', 'blocks', 'median ms', 'min ms', 'runs', 'first call ms', 'target ms', '', 'PyTorch H100 ms', 'boxes/exact/evals', 'memory', 'sparsity %'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
console.log('first call: a fresh mask in this process (tracing, compiling its JS and interval code, cold JIT); median/min: steady state.');
console.log(`createBlockMask, block 128, one thread — node ${process.version}, ${process.platform}/${process.arch}, ${new Date().toISOString()}`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
if (missed > 0) {
  console.error(`\n${missed} target(s) missed`);
  process.exit(1);
}
console.log('\nall targets met');
