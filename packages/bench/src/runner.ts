/**
 * The benchmark run: for each case, each backend is verified against the reference, then timed
 * (its own device timer where it has one); block-mask creation is timed as a case of its own.
 */
import type { LoadedBackend } from './backends';
import { type BenchCase, shapeText } from './cases';
import { createBlockMask, type FlexAttentionBackend, traceMaskMod } from './deps';
import { MODS } from './cases';
import type { PeerComparison } from './peer';
import { buildProblem, forwardFlops, kvBytes, problemFor, reducedShape } from './problem';
import { decodeStepMaskRows } from './decode-mask';
import { raggedDensity } from './ragged';
import { type Stats, stats } from './stats';
import { verifyCase, type Verification } from './verify';

export interface RunOptions {
  pass: 'fwd' | 'bwd' | 'both';
  warmup: number;
  iterations: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface CaseResult {
  case: string;
  mod: string;
  shape: string;
  dtype: string;
  kind: BenchCase['kind'];
  backend: string;
  status: 'ok' | 'failed' | 'error';
  verification?: Verification;
  error?: string;
  density: number;
  fwd?: Stats;
  fwdBwd?: Stats;
  timer?: string;
  /** True when the time was measured on the reduced shape and scaled by useful work. */
  extrapolated?: boolean;
  tflops?: number;
  fwdBwdTflops?: number;
  gbps?: number;
  speedupVsReference?: number;
  /** Each peer's times and peer/our ratios (above 1: we are faster), or why it did not run the case. */
  peers?: PeerComparison[];
}

export interface BlockMaskResult {
  mod: string;
  shape: string;
  ms: Stats;
  sparsity: number;
  picture: string;
}

const now = () => performance.now();

async function timeWall(fn: () => Promise<unknown>, warmup: number, iterations: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = now();
    await fn();
    ms.push(now() - t);
  }
  return ms;
}

/** The reference is O(L²) in float64: beyond this much work it is timed on the reduced shape. */
const REFERENCE_FULL_WORK = 2 ** 27;

async function timeBackend(name: string, backend: FlexAttentionBackend, c: BenchCase, opts: RunOptions) {
  const work = c.shape.B * c.shape.Hq * c.shape.Lq * c.shape.Lkv * c.shape.E;
  const extrapolated = name === 'reference' && work > REFERENCE_FULL_WORK;
  const shape = extrapolated ? reducedShape(c.shape, c.kind) : c.shape;
  const p = await problemFor(c, shape, 7);
  const scale = extrapolated ? forwardFlops(c.shape, 1) / forwardFlops(shape, 1) : 1;
  const iters = name === 'reference' ? Math.min(opts.iterations, 3) : opts.iterations;
  const warm = name === 'reference' ? 0 : opts.warmup;
  const run = async (pass: 'fwd' | 'both') => {
    if (backend.measure) {
      const r = await backend.measure(p.q, p.k, p.v, p.options, { pass, warmup: warm, iterations: iters, dOut: p.dOut });
      return { ms: r.ms, timer: r.timer };
    }
    const ms = await timeWall(async () => {
      const f = await backend.flexAttention(p.q, p.k, p.v, p.options);
      if (pass === 'both') await backend.flexAttentionBackward(p.q, p.k, p.v, f.out, f.lse!, p.dOut, p.options);
    }, warm, iters);
    return { ms, timer: 'wall (host tensors)' };
  };
  const fwd = opts.pass === 'bwd' ? undefined : await run('fwd');
  const both = opts.pass === 'fwd' ? undefined : await run('both');
  const scaled = (ms?: number[]) => (ms ? stats(ms.map((x) => x * scale)) : undefined);
  return { fwd: scaled(fwd?.ms), fwdBwd: scaled(both?.ms), timer: (fwd ?? both)!.timer, extrapolated };
}

export async function runCases(cases: readonly BenchCase[], backends: readonly LoadedBackend[], opts: RunOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const live = backends.filter((b) => b.backend);
  const total = cases.length * live.length;
  let done = 0;
  for (const c of cases) {
    const density = c.lengths ? raggedDensity(c.lengths) : buildProblem(c, { ...c.shape, B: 1, Hq: 1, Hkv: 1, E: 1, Ev: 1 }).density;
    const flops = forwardFlops(c.shape, density);
    let refMs: number | undefined;
    for (const b of live) {
      opts.onProgress?.(done++, total, `${b.name}: ${c.id}`);
      const base: CaseResult = { case: c.id, mod: c.mod, shape: shapeText(c.shape), dtype: c.dtype, kind: c.kind, backend: b.name, status: 'ok', density };
      try {
        if (b.name !== 'reference') {
          base.verification = await verifyCase(c, b.backend!, opts.pass);
          if (!base.verification.ok) {
            results.push({ ...base, status: 'failed', error: base.verification.message });
            continue;
          }
        }
        const t = await timeBackend(b.name, b.backend!, c, opts);
        Object.assign(base, t);
        if (t.fwd) {
          base.tflops = flops / (t.fwd.median * 1e9);
          if (c.kind === 'decode') base.gbps = kvBytes(c.shape, c.dtype, c.lengths) / (t.fwd.median * 1e6);
        }
        if (t.fwdBwd) base.fwdBwdTflops = (3.5 * flops) / (t.fwdBwd.median * 1e9);
        if (b.name === 'reference') refMs = t.fwd?.median ?? t.fwdBwd?.median;
        else if (refMs !== undefined) base.speedupVsReference = refMs / (t.fwd?.median ?? t.fwdBwd!.median);
        results.push(base);
      } catch (err) {
        results.push({ ...base, status: 'error', error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  opts.onProgress?.(total, total, 'done');
  return results;
}

/**
 * Time per createBlockMask for each masked mod of the cases (one per distinct mod × length); with a
 * paged decode case, also a decode step's mask at L = 32k taken from a mask built once vs rebuilt.
 */
export function runBlockMaskCases(cases: readonly BenchCase[], iterations = 20): BlockMaskResult[] {
  const seen = new Set<string>();
  const out: BlockMaskResult[] = cases.some((c) => c.layout === 'paged') ? decodeStepMaskRows() : [];
  for (const c of cases) {
    const built = MODS[c.mod]?.(c.shape);
    const key = `${c.mod}|${c.shape.Lq}|${c.shape.Lkv}`;
    if (!built?.mask || seen.has(key)) continue;
    seen.add(key);
    const mask = traceMaskMod(built.mask, { name: c.mod });
    const make = () => createBlockMask(mask, { qLen: c.shape.Lq, kvLen: c.shape.Lkv, blockSize: c.blockSize ?? 128 });
    const bm = make();
    const ms: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t = now();
      make();
      ms.push(now() - t);
    }
    out.push({ mod: c.mod, shape: `L${c.shape.Lq}x${c.shape.Lkv} block ${(c.blockSize ?? [128, 128]).join('x')}`, ms: stats(ms), sparsity: bm.sparsity(), picture: bm.toString() });
  }
  return out;
}
