// Every generated source for the mod catalogue, compiled with the local nvcc for sm_80 and sm_90a,
// so that a template or renderer bug fails CI without a GPU. NVRTC compiles the same text on the
// device (prelude + kernels/*.cuh); nvcc here takes it as one translation unit.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DType, shortTileFirstOffset, type TracedMod, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import {
  alibi, andMasks, attentionSinks, causal, chunkedAttention, composeScoreMods, dilatedSlidingWindow, documentMask,
  gelu, globalTokens, headBias, prefixLm, relativePosition, slidingWindow, softcap, temperature,
} from '@flexattn/mods';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelDir, kernelSource } from './kernel-sources';
import { DECODE_VARIANT, type FwdConfigOptions, bwdConfig, configDefines, decodeConfig, fwdConfig, lightMods, maskReadsTensor } from './config';
import { preprocessRowsPerBlock } from './launch-plan';
import { isAdditiveScoreRoot, renderPrelude } from './renderer';

const NVCC = process.env.NVCC ?? '/usr/local/cuda/bin/nvcc';
const run = promisify(execFile);

interface Variant {
  name: string;
  score?: () => TracedMod;
  mask?: () => TracedMod;
  dtype: DType;
  E: number;
  Ev: number;
  /** The tile config chosen for a non-Hopper device (default: the Hopper one, as on the H100). */
  preHopper?: boolean;
  /** The per-CTA Hopper forward instead of the persistent one (CudaBackendOptions.hopperForward). */
  perCta?: boolean;
  /** The session-3 Hopper backward instead of the FA3-class one (CudaBackendOptions.hopperBackward). */
  classicBwd?: boolean;
  /** returnAux.maxScores: the bodies that track the row max (FLEX_MAX_SCORES). */
  maxScores?: boolean;
  /** CudaBackendOptions.deterministic: the FA3-class backward's fixed dQ order (FLEX_BWD_DETERMINISTIC). */
  deterministic?: boolean;
}
const s = (m: Parameters<typeof traceScoreMod>[0]) => () => traceScoreMod(m);
const m = (x: Parameters<typeof traceMaskMod>[0]) => () => traceMaskMod(x);

// the catalogue, spread over dtypes and head dims so every kernel path is compiled somewhere
const VARIANTS: Variant[] = [
  { name: 'noop', dtype: 'bf16', E: 64, Ev: 64 },
  { name: 'noop_pre_hopper_tiles', dtype: 'bf16', E: 64, Ev: 64, preHopper: true },
  { name: 'causal', mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 },
  { name: 'sliding_window', mask: m(slidingWindow(256)), dtype: 'f16', E: 64, Ev: 64, preHopper: true },
  { name: 'prefix_lm', mask: m(prefixLm(32)), dtype: 'f32', E: 64, Ev: 64 },
  { name: 'document', mask: m(documentMask({ lengths: [40, 60, 28] })), dtype: 'bf16', E: 40, Ev: 40 },
  { name: 'chunked', mask: m(chunkedAttention(64)), dtype: 'f16', E: 128, Ev: 64 },
  { name: 'attention_sinks', mask: m(attentionSinks(4, 128)), dtype: 'bf16', E: 256, Ev: 256 },
  { name: 'attention_sinks_pre_hopper_tiles', mask: m(attentionSinks(4, 128)), dtype: 'bf16', E: 256, Ev: 256, preHopper: true },
  { name: 'dilated_sliding_window', mask: m(dilatedSlidingWindow(128, 2)), dtype: 'f32', E: 40, Ev: 40 },
  { name: 'global_tokens', mask: m(globalTokens(4, 64)), dtype: 'bf16', E: 96, Ev: 96 },
  { name: 'and_masks', mask: m(andMasks(causal(), slidingWindow(64))), dtype: 'f16', E: 64, Ev: 64 },
  { name: 'alibi_learnable', score: s(alibi(8, { learnable: true })), dtype: 'bf16', E: 64, Ev: 64 },
  { name: 'softcap', score: s(softcap(20)), mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 },
  { name: 'softcap_pre_hopper_tiles', score: s(softcap(20)), mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128, preHopper: true },
  { name: 'softcap_approx', score: s(softcap(20, { approx: true })), dtype: 'f16', E: 64, Ev: 64 },
  { name: 'softcap_approx_causal_per_cta', score: s(softcap(20, { approx: true })), mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128, perCta: true },
  { name: 'noop_per_cta', dtype: 'f16', E: 64, Ev: 64, perCta: true, classicBwd: true },
  { name: 'softcap_causal_classic_bwd', score: s(softcap(20)), mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128, classicBwd: true },
  // the persistent body's D64 tiles: three consumer warpgroups (light mods), two (a tensor mask)
  { name: 'causal_d64_three_warpgroups', mask: m(causal()), dtype: 'bf16', E: 64, Ev: 64 },
  { name: 'document_d64_two_warpgroups', mask: m(documentMask({ lengths: [40, 60, 28] })), dtype: 'f16', E: 64, Ev: 64 },
  { name: 'relative_position', score: s(relativePosition()), dtype: 'f32', E: 128, Ev: 128 },
  { name: 'head_bias_learnable', score: s(headBias(new Float32Array([0.1, 0.2, 0.3, 0.4]), { learnable: true })), dtype: 'bf16', E: 128, Ev: 128 },
  { name: 'temperature', score: s(temperature(0.7)), dtype: 'bf16', E: 32, Ev: 32 },
  // head dims that are not multiples of 8 (scalar loads) or odd (element stores)
  { name: 'odd_dims_softcap_causal', score: s(softcap(30)), mask: m(causal()), dtype: 'bf16', E: 36, Ev: 20 },
  { name: 'odd_ev_f16', dtype: 'f16', E: 72, Ev: 33 },
  { name: 'compose_alibi_softcap', score: s(composeScoreMods(alibi(4), softcap(30))), mask: m(causal()), dtype: 'f16', E: 64, Ev: 64 },
  // the ops added for issue 17: erf (gelu), sin, cos, round, sign (i32 and f32)
  { name: 'gelu_causal', score: s(gelu()), mask: m(causal()), dtype: 'bf16', E: 64, Ev: 64 },
  {
    name: 'trig_round_sign', dtype: 'f32', E: 64, Ev: 64,
    score: s((x, _b, h, q, kv) => x.add(q.sub(kv).toFloat().mul(0.1).sin().mul(h.sign().toFloat())).add(x.cos().round()).mul(x.sign())),
  },
  // returnAux.maxScores (FLEX_MAX_SCORES) in every forward body and the decoder
  { name: 'max_scores_causal_persistent', mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128, maxScores: true },
  { name: 'max_scores_softcap_d64_persistent', score: s(softcap(20)), dtype: 'f16', E: 64, Ev: 64, maxScores: true },
  { name: 'max_scores_per_cta', dtype: 'bf16', E: 64, Ev: 64, perCta: true, maxScores: true },
  { name: 'max_scores_pre_hopper_tiles', score: s(alibi(4)), dtype: 'f16', E: 128, Ev: 128, preHopper: true, maxScores: true },
  { name: 'max_scores_f32', mask: m(causal()), dtype: 'f32', E: 64, Ev: 64, maxScores: true },
  // FwdConfig.bacc (alibi_learnable and head_bias_learnable above take it too): under a mask (partial
  // tiles: the mask alone after the bias went in with QKᵀ), with the row max, and at D128 relative position
  { name: 'bacc_alibi_causal_d64', score: s(alibi(8)), mask: m(causal()), dtype: 'f16', E: 64, Ev: 64 },
  { name: 'bacc_max_scores_relpos_d128', score: s(relativePosition()), dtype: 'bf16', E: 128, Ev: 128, maxScores: true },
];

/** The prelude as the backend renders it for the variant (launch-plan.ts's config options), and the configs. */
function variantPrelude(v: Variant) {
  const mask = v.mask?.();
  const score = v.score?.();
  const fwd = fwdConfig(v.dtype, v.E, v.Ev, {
    identityScore: !v.score, hopper: !v.preHopper, hopperBody: v.perCta ? 'wg' : 'fa3', lightMods: lightMods(score, mask),
    tensorMask: mask ? maskReadsTensor(mask) : false,
    additiveScore: score !== undefined && isAdditiveScoreRoot(score.root), scale: 1 / Math.sqrt(v.E),
  });
  const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: !v.preHopper, hopperBody: v.classicBwd ? 'classic' : 'fa3', deterministic: v.deterministic });
  const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
  const defines = configDefines(fwd, bwd, dec, { maxScores: v.maxScores });
  const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, scoreMod: score, maskMod: mask, defines, indexLimit: 2 ** 22 });
  return { prelude, fwd, bwd };
}

function source(v: Variant): string {
  const { prelude, fwd, bwd } = variantPrelude(v);
  // one translation unit: the prelude, common.cuh and every kernel file (the backward's as selected)
  return kernelSource(prelude, ['fwd', bwd.fa3 ? 'bwdFa3' : 'bwd', 'dec']) + launchAsserts(fwd, bwd, v.dtype);
}

/**
 * The launch the backend computes (config.ts: threads, dynamic shared memory) must be what the
 * kernels were built for, in every nvcc pass: the host pass (FLEX_WGMMA 0, where a C++ launcher
 * such as the harness reads FwdCfg) and each device pass. A warp-specialised body once had a
 * host-side FwdCfg without its producer warp: "an illegal memory access" on the H100.
 */
function launchAsserts(fwd: ReturnType<typeof fwdConfig>, bwd: ReturnType<typeof bwdConfig>, dtype: DType): string {
  if (dtype === 'f32') return '';
  return [
    '',
    `static_assert(FlexFwdConfig::LAUNCH_THREADS == ${fwd.threads}, "forward threads: config.ts vs FwdCfg");`,
    `static_assert(FlexFwdConfig::SMEM_BYTES == ${fwd.smemBytes}, "forward shared memory: config.ts vs FwdCfg");`,
    `static_assert(FlexBwdConfig::${bwd.fa3 ? 'LAUNCH_THREADS' : 'NTHREADS'} == ${bwd.threads}, "backward threads: config.ts vs BwdCfg");`,
    `static_assert(FlexBwdConfig::SMEM_BYTES == ${bwd.smemBytes}, "backward shared memory: config.ts vs BwdCfg");`,
    '',
  ].join('\n');
}

// The persistent forward tiles its queries short tile first (Fa3Cfg::q_offset) and reads block
// tables built with ir's shortTileFirstOffset (launch-plan.ts): the two must agree for every length,
// or the kernel walks another tile's kv list. Lengths around the tile and far past it.
const Q_OFFSET_LENGTHS = [1, 63, 64, 127, 128, 129, 191, 192, 193, 4096, 4097, 8191];
const qOffsetAsserts = (cfg: string, bm: number) =>
  Q_OFFSET_LENGTHS.map((L) => `static_assert(${cfg}::q_offset(${L}) == ${shortTileFirstOffset(L, bm)}, "q_offset(${L}): Fa3Cfg vs ir's shortTileFirstOffset");`);

// a small pool: nvcc is slow, run as many as there are cores (NVCC_JOBS: fewer, on a shared machine)
const slots = Math.max(1, Number(process.env.NVCC_JOBS) || availableParallelism());
let active = 0;
const queue: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (active >= slots) await new Promise<void>((r) => queue.push(r));
  active++;
  try {
    return await fn();
  } finally {
    active--;
    queue.shift()?.();
  }
}

describe.skipIf(!existsSync(NVCC))(`generated CUDA compiles with ${NVCC} (sm_80, sm_90a)`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'flexattn-cuda-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const results = new Map<string, Promise<{ stderr: string }>>();
  const compile = (v: Variant) => {
    let r = results.get(v.name);
    if (!r) {
      const file = join(dir, `${v.name}.cu`);
      writeFileSync(file, source(v));
      r = limited(() =>
        run(NVCC, ['-std=c++17', '-gencode=arch=compute_80,code=sm_80', '-gencode=arch=compute_90a,code=sm_90a', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }),
      );
      results.set(v.name, r);
    }
    return r;
  };
  it('the *Args byte layouts documented in common.cuh are the compiler\'s (offsetof/sizeof)', async () => {
    const common = join(kernelDir(), 'common.cuh');
    const text = readFileSync(common, 'utf8');
    const lines = ['#include <cstddef>', `#include "${common}"`];
    for (const st of ['FlexBlockTable', 'FlexFwdArgs', 'FlexBwdArgs', 'FlexDecodeArgs']) {
      const i = text.indexOf(`struct ${st} {`);
      const body = text.slice(i, text.indexOf('\n', text.indexOf('};', i)));
      for (const m of body.matchAll(/^\s+[\w\s*]+?[\s*](\w+);\s*\/\/\s*(\d+)\s+(\d+)/gm)) {
        lines.push(`static_assert(offsetof(${st}, ${m[1]}) == ${m[2]}, "${st}.${m[1]}");`);
      }
      lines.push(`static_assert(sizeof(${st}) == ${/\};\s*\/\/\s*(\d+) bytes/.exec(body)![1]}, "${st} size");`);
    }
    const file = join(dir, 'layout.cu');
    writeFileSync(file, `${lines.join('\n')}\nint main() { return 0; }\n`);
    await limited(() => run(NVCC, ['-std=c++17', '-c', file, '-o', join(dir, 'layout.o')]));
    expect(lines.length).toBeGreaterThan(60);
  }, 300_000);

  // start them all at once (the pool bounds the concurrency); each test awaits its own
  // The backend compiles each kernel kind as its own translation unit; one that leans on another
  // file's definitions only fails there (NVRTC on the GPU once caught exactly that).
  for (const kind of ['fwd', 'bwd', 'dec'] as const) {
    it(`an f32 ${kind} translation unit compiles on its own, as the backend builds it`, async () => {
      const v: Variant = { name: `alone_${kind}`, mask: m(causal()), dtype: 'f32', E: 64, Ev: 64 };
      const fwd = fwdConfig(v.dtype, v.E, v.Ev, { identityScore: !v.score });
      const bwd = bwdConfig(v.dtype, v.E, v.Ev);
      const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
      const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, maskMod: v.mask?.(), defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 });
      const file = join(dir, `${v.name}.cu`);
      // the decoder's launch (config.ts) gives it the shared memory its layout (DecCfg) uses
      const decAssert = `\nstatic_assert(flex::DecCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_DEC_ROWS, sizeof(flex_elem_t), FLEX_DEC_STAGES>::SMEM_BYTES == ${dec.smemBytes}, "decoder shared memory: config.ts vs DecCfg");\n`;
      writeFileSync(file, kernelSource(prelude, kind) + (kind === 'dec' ? decAssert : ''));
      await limited(() => run(NVCC, ['-std=c++17', '-arch=sm_80', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
    });
  }
  // ptxas's report (-Xptxas -v) on one entry point: its registers a thread (what a CTA is launched
  // with: the pool setmaxnreg moves registers in) and its spill-store bytes
  const ptxasEntry = (stderr: string, entry: string) => {
    const at = stderr.indexOf(`Function properties for ${entry}\n`);
    expect(at).toBeGreaterThanOrEqual(0);
    const report = stderr.slice(at, stderr.indexOf('\n', stderr.indexOf('Used ', at)));
    return { registers: Number(/Used (\d+) registers/.exec(report)![1]), spillStores: Number(/(\d+) bytes spill stores/.exec(report)![1]) };
  };
  // the most a thread of `threads` can be launched with (the file over the threads, allocated in 8s):
  // tma.cuh's setmaxnreg_fits budgets the producers' and consumers' registers against it
  const launchRegisters = (threads: number) => Math.floor(65536 / threads / 8) * 8;
  // The decoder at the backend's variant (config.ts DECODE_VARIANT) builds for sm_90a without local
  // memory (session 11's body spilled 12 bytes under __launch_bounds__(256)), and the shared memory the
  // launch gives is still the layout's
  it('the decoder\'s translation unit at the backend\'s variant compiles for sm_90a without spills', async () => {
    const v: Variant = { name: 'alone_dec_variant', mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 };
    const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
    const defines = configDefines(fwd, bwd, dec);
    expect(dec.variant).toBe(DECODE_VARIANT);
    const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, maskMod: v.mask?.(), defines, indexLimit: 2 ** 22 });
    const file = join(dir, `${v.name}.cu`);
    const decAssert = `\nstatic_assert(flex::DecCfg<FLEX_HEAD_DIM, FLEX_HEAD_DIM_V, FLEX_DEC_ROWS, sizeof(flex_elem_t), FLEX_DEC_STAGES, FLEX_DEC_VARIANT>::SMEM_BYTES == ${dec.smemBytes}, "decoder shared memory: config.ts vs DecCfg");\n`;
    writeFileSync(file, kernelSource(prelude, 'dec') + decAssert);
    const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
    const entry = ptxasEntry(stderr, 'flex_decode');
    expect(entry.spillStores).toBe(0);
    expect(entry.registers).toBeLessThanOrEqual(128);
  });
  it('the FA3-class backward\'s translation unit (bwdFa3) compiles on its own for sm_90a', async () => {
    // D128 (D64 with a mask's partial tiles spills 4 bytes: the README's "Not done yet")
    const v: Variant = { name: 'alone_bwdFa3', mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 };
    const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    expect(bwd.fa3).toBe(true);
    const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
    const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, maskMod: v.mask?.(), defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 });
    const file = join(dir, `${v.name}.cu`);
    writeFileSync(file, kernelSource(prelude, 'bwdFa3'));
    const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
    // setmaxnreg honoured, wgmma not serialised, and no local memory in any entry point
    expect(stderr).not.toMatch(/C7508|C7515/);
    expect(stderr).toMatch(/flex_bwd_dkdv/);
    expect(stderr).not.toMatch(/[1-9]\d* bytes spill stores/);
    expect(ptxasEntry(stderr, 'flex_bwd_dkdv').registers).toBe(launchRegisters(bwd.threads));
  });
  // The persistent forward's translation unit alone for sm_90a, with ptxas's report (-Xptxas -v)
  const hopperFwdAlone = async (v: Variant, options: { identityScore: boolean; lightMods: boolean } & FwdConfigOptions) => {
    const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true, ...options });
    const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
    const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, scoreMod: v.score?.(), maskMod: v.mask?.(), defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 });
    const file = join(dir, `${v.name}.cu`);
    const asserts = [
      `static_assert(FlexFwdConfig::LAUNCH_THREADS == ${fwd.threads}, "threads");`,
      `static_assert(FlexFwdConfig::SMEM_BYTES == ${fwd.smemBytes}, "forward shared memory: config.ts vs Fa3Cfg");`,
      ...qOffsetAsserts('FlexFwdConfig', fwd.bm),
    ];
    writeFileSync(file, `${kernelSource(prelude, 'fwd')}\n${asserts.join('\n')}\n`);
    const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
    return { fwd, stderr, prelude };
  };
  it('Fa3Cfg::q_offset is ir\'s shortTileFirstOffset at every persistent tile height (BM 128, 192), and the other bodies do not shift', async () => {
    // the tile heights config.ts gives the persistent body: three consumer warpgroups at D64 with light
    // mods (BM 192), two elsewhere (BM 128)
    expect(fwdConfig('bf16', 64, 64, { hopper: true, identityScore: true, lightMods: true }).bm).toBe(192);
    expect(fwdConfig('bf16', 128, 128, { hopper: true, identityScore: true, lightMods: true }).bm).toBe(128);
    const fwd = fwdConfig('bf16', 64, 64, { hopper: true, hopperBody: 'wg' });
    const { prelude } = renderPrelude({ dtype: 'bf16', E: 64, Ev: 64, defines: { FLEX_NO_ENTRY_POINTS: 1 } });
    const lines = [
      kernelSource(prelude, 'fwd'),
      'typedef flex::Fa3Cfg<64, 64, 128, 3, 2, 0, 1> Bm192;',
      'typedef flex::Fa3Cfg<128, 128, 128, 2, 2> Bm128;',
      'static_assert(Bm192::BM == 192 && Bm128::BM == 128, "tile heights");',
      ...qOffsetAsserts('Bm192', 192),
      ...qOffsetAsserts('Bm128', 128),
      `typedef flex::FwdCfg<64, 64, ${fwd.bm}, ${fwd.bn}, ${fwd.warps}, ${fwd.stages}> Plain;`,
      ...Q_OFFSET_LENGTHS.map((L) => `static_assert(Plain::q_offset(${L}) == 0, "the per-CTA bodies keep unshifted tiles");`),
      '',
    ];
    const file = join(dir, 'q_offset.cu');
    writeFileSync(file, lines.join('\n'));
    // no entry points: nothing to generate code for, the static_asserts are the test
    const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-c', file, '-o', join(dir, 'q_offset.o')], { maxBuffer: 64 << 20 }));
    expect(stderr).not.toMatch(/error/i);
  }, 300_000);
  it('the persistent forward at head dim 256 keeps O (128 fp32 a thread) in registers: no spills, wgmma not serialised', async () => {
    // the heaviest per-element work of the catalogue's D256 users: exact softcap on partial causal
    // tiles (the fixed tile order, consumers at 240 registers); and causal alone (the dynamic
    // scheduler: the copy thread at 40, the consumers at 232)
    const variants: [Variant, boolean][] = [
      [{ name: 'alone_fwd_fa3_d256', score: s(softcap(20)), mask: m(causal()), dtype: 'f16', E: 256, Ev: 256 }, false],
      [{ name: 'alone_fwd_fa3_d256_dyn', mask: m(causal()), dtype: 'bf16', E: 256, Ev: 256 }, true],
    ];
    for (const { fwd, stderr } of await Promise.all(variants.map(([v, identityScore]) => hopperFwdAlone(v, { identityScore, lightMods: identityScore })))) {
      expect(fwd).toMatchObject({ fa3: true, bm: 128, bn: 64 });
      expect(stderr).not.toMatch(/C7508|C7515/);
      expect(stderr).toMatch(/flex_fwd/);
      expect(stderr).not.toMatch(/[1-9]\d* bytes spill stores/);
    }
  }, 300_000);
  // FLEX_BIAS_KV_AFFINE: ALiBi and relative position take the bias at one column per row and tile and
  // the rest by one FMA an element; at the backend's scale through the bias-in-accumulator body
  // (BACC: D64 on three consumer warpgroups at 160 registers, D128 on two), and through fwd_post's
  // path with a scale BACC cannot divide by (negative) and at D256. None may spill or serialise wgmma.
  it('the persistent forward\'s affine-bias fast path (alibi D64 / D128 / D256, relative position D64) compiles for sm_90a without spills', async () => {
    const cases: [Variant, number, boolean][] = [
      [{ name: 'alone_fwd_fa3_alibi_d64', score: s(alibi(16)), dtype: 'bf16', E: 64, Ev: 64 }, 0.125, true],
      [{ name: 'alone_fwd_fa3_alibi_d128', score: s(alibi(16)), mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 }, 128 ** -0.5, true],
      [{ name: 'alone_fwd_fa3_relpos_d64', score: s(relativePosition()), mask: m(causal()), dtype: 'f16', E: 64, Ev: 64 }, 0.125, true],
      [{ name: 'alone_fwd_fa3_relpos_d64_post', score: s(relativePosition()), mask: m(causal()), dtype: 'bf16', E: 64, Ev: 64 }, -0.125, false],
      // head dim 256 has no BACC: fwd_post's path beside O's 128 registers a thread
      [{ name: 'alone_fwd_fa3_alibi_d256', score: s(alibi(16)), mask: m(causal()), dtype: 'bf16', E: 256, Ev: 256 }, 0.0625, false],
    ];
    const results = await Promise.all(cases.map(([v, scale]) => {
      const score = v.score!();
      return hopperFwdAlone(v, { identityScore: false, lightMods: lightMods(score, v.mask?.()), additiveScore: isAdditiveScoreRoot(score.root), scale });
    }));
    results.forEach(({ fwd, stderr, prelude }, i) => {
      const [v, , bacc] = cases[i]!;
      expect(fwd, v.name).toMatchObject({ fa3: true, bacc, warps: v.E === 64 ? 12 : 8 });
      expect(prelude, v.name).toMatch(/#define FLEX_BIAS_KV_AFFINE 1/);
      expect(prelude, v.name).toMatch(/__device__ __forceinline__ float flex_bias_kv_slope\(float score, int b, int h, int q, int kv, const FlexScoreParams& p\)/);
      expect(stderr, v.name).toMatch(/flex_fwd/);
      // (D256 keeps its injected warpgroup.arrive, C7519: that body does not peel its first tile)
      expect(stderr, v.name).not.toMatch(v.E === 256 ? /C7508|C7515/ : /C7519|C7508|C7515/);
      expect(stderr, v.name).not.toMatch(/[1-9]\d* bytes spill stores/);
      // the report, for the record (vitest prints it with --reporter verbose)
      console.log(`${v.name}: ${/Used \d+ registers[^\n]*/.exec(stderr.slice(stderr.indexOf('Function properties for flex_fwd')))?.[0]}; ${/\d+ bytes spill stores, \d+ bytes spill loads/.exec(stderr.slice(stderr.indexOf('Function properties for flex_fwd')))?.[0]}`);
    });
  }, 900_000);
  // ptxas injects a warpgroup.arrive (C7519) where an accumulator of an in-flight wgmma reaches a
  // branch's join, or a wait loop lies between the fence and the wgmma reading it; the D64 / D128
  // bodies have neither (flex_fwd_fa3.cuh peels the first key tile off the loop; D256 does not)
  for (const E of [64, 128]) {
    it(`the persistent forward at head dim ${E} has no injected warpgroup.arrive (C7519)`, async () => {
      const v: Variant = { name: `alone_fwd_fa3_d${E}`, mask: m(causal()), dtype: 'bf16', E, Ev: E };
      const { fwd, stderr } = await hopperFwdAlone(v, { identityScore: true, lightMods: true });
      expect(fwd).toMatchObject({ fa3: true, warps: E === 64 ? 12 : 8 });
      expect(stderr).toMatch(/flex_fwd/);
      expect(stderr).not.toMatch(/C7519|C7508|C7515/);
      // the copy thread and the consumers within their setmaxnreg budgets (Fa3Cfg::REG_PRODUCER)
      expect(stderr).not.toMatch(/[1-9]\d* bytes spill stores/);
    }, 300_000);
  }
  // Fa3Cfg::BACC at D64 (three consumer warpgroups at 160 registers): the tightest consumer budget
  // under a score mod; holding the q offset (the short tile first) across the work-tile loop spilled
  // 80 bytes here
  it('the persistent forward\'s BACC body at head dim 64 (alibi + causal) has no spills', async () => {
    const v: Variant = { name: 'alone_fwd_fa3_bacc_d64', score: s(alibi(8)), mask: m(causal()), dtype: 'f16', E: 64, Ev: 64 };
    const { fwd, stderr } = await hopperFwdAlone(v, { identityScore: false, lightMods: true, additiveScore: true, scale: 0.125 });
    expect(fwd).toMatchObject({ fa3: true, bacc: true, bm: 192 });
    expect(stderr).toMatch(/flex_fwd/);
    expect(stderr).not.toMatch(/C7519|C7508|C7515/);
    expect(stderr).not.toMatch(/[1-9]\d* bytes spill stores/);
  }, 300_000);
  // A mask reading a tensor under the identity score (a document mask) takes the three-warpgroup
  // D64 tile with its column values in shared memory (FLEX_FA3_SMEM_COLS): 160 registers a consumer
  // thread are enough only so (per-thread doc-id loads spilled 12 bytes there), and the backward
  // passes its row values by shuffles
  it('the document mask\'s Hopper configs compile for sm_90a (forward BM 192: no spills, no C7519, config.ts\'s shared memory)', async () => {
    const v: Variant = { name: 'alone_doc', mask: m(documentMask({ lengths: [40, 60, 28] })), dtype: 'bf16', E: 64, Ev: 64 };
    const mask = v.mask!();
    const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true, lightMods: lightMods(undefined, mask), tensorMask: maskReadsTensor(mask) });
    const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    expect(fwd).toMatchObject({ fa3: true, bm: 192, bn: 128, warps: 12, smemCols: true });
    const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
    const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, maskMod: mask, defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 });
    expect(prelude).toMatch(/#define FLEX_FA3_SMEM_COLS 1/);
    const asserts = [
      `static_assert(FlexFwdConfig::SMEM_BYTES == ${fwd.smemBytes}, "forward shared memory: config.ts vs Fa3Cfg");`,
      'static_assert(FlexFwdConfig::SMEM_COLS, "the document mask\'s column values fit a shared slot");',
    ];
    const run1 = async (name: string, kind: 'fwd' | 'bwdFa3', extra: string[]) => {
      const file = join(dir, `${name}.cu`);
      writeFileSync(file, `${kernelSource(prelude, kind)}\n${extra.join('\n')}\n`);
      const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${name}.o`)], { maxBuffer: 64 << 20 }));
      expect(stderr).not.toMatch(/C7508|C7515/);
      return stderr;
    };
    const [fwdErr, bwdErr] = await Promise.all([run1(`${v.name}_fwd`, 'fwd', asserts), run1(`${v.name}_bwd`, 'bwdFa3', [])]);
    expect(fwdErr).toMatch(/flex_fwd/);
    expect(fwdErr).not.toMatch(/C7519/);
    expect(fwdErr).not.toMatch(/[1-9]\d* bytes spill stores/);
    expect(bwdErr).toMatch(/flex_bwd_dkdv/);
  }, 300_000);
  it('the FA3-class backward decodes its walk in the default body of a document mask only (FLEX_BWD_WALK_DECODES)', async () => {
    // kernels/flex_bwd_fa3.cuh: two forms of the same walk, picked for speed by the preprocessor from
    // the prelude's FLEX_FA3_SMEM_COLS and FLEX_BWD_DETERMINISTIC; nvcc -E evaluates the choice
    const doc = m(documentMask({ lengths: [40, 60, 28] }));
    const cases: (Variant & { decodes: 0 | 1 })[] = [
      { name: 'doc64', mask: doc, dtype: 'bf16', E: 64, Ev: 64, decodes: 1 },
      { name: 'doc128', mask: doc, dtype: 'bf16', E: 128, Ev: 128, decodes: 1 },
      { name: 'doc64_det', mask: doc, dtype: 'bf16', E: 64, Ev: 64, deterministic: true, decodes: 0 },
      { name: 'causal64', mask: m(causal()), dtype: 'bf16', E: 64, Ev: 64, decodes: 0 },
      { name: 'noop128', dtype: 'bf16', E: 128, Ev: 128, decodes: 0 },
    ];
    await Promise.all(cases.map(async (c) => {
      const { prelude } = variantPrelude(c);
      const file = join(dir, `walk_${c.name}.cu`);
      writeFileSync(file, `${kernelSource(prelude, 'bwdFa3')}\n#if FLEX_BWD_WALK_DECODES != ${c.decodes}\n#error "walk form of ${c.name}"\n#endif\n`);
      await limited(() => run(NVCC, ['-std=c++17', '-E', '-x', 'cu', file, '-o', join(dir, `walk_${c.name}.ii`)], { maxBuffer: 64 << 20 }));
    }));
  }, 120_000);
  it('the deterministic FA3-class backward (FLEX_BWD_DETERMINISTIC) compiles on its own for sm_90a', async () => {
    // D128 causal and D64 noop. The writer warp shares the producer warpgroup's 24 registers: any
    // third warp role there (even an empty one) makes ptxas spill a few words of the producers'
    // (48 bytes at D128 in the harness); D64 spills some in the consumers too. At 32 there would
    // be none, but the consumers' setmaxnreg.inc then waits forever (tma.cuh): the launch
    // registers are checked here, the budget by setmaxnreg_fits in BwdFa3Cfg.
    for (const v of [
      { name: 'alone_bwdFa3_det128', mask: m(causal()), dtype: 'bf16', E: 128, Ev: 128 },
      { name: 'alone_bwdFa3_det64', dtype: 'f16', E: 64, Ev: 64 },
    ] satisfies Variant[]) {
      const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
      const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true, deterministic: true });
      expect(bwd).toMatchObject({ fa3: true, deterministic: true });
      const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
      const { prelude } = renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, maskMod: v.mask?.(), defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 });
      expect(prelude).toMatch(/#define FLEX_BWD_DETERMINISTIC 1/);
      const file = join(dir, `${v.name}.cu`);
      // config.ts's launch (threads, shared memory with the writer's mbarriers and tasks) is the kernel's
      const asserts = [
        `static_assert(FlexBwdConfig::DET && FlexBwdConfig::LAUNCH_THREADS == ${bwd.threads}, "threads");`,
        `static_assert(FlexBwdConfig::SMEM_BYTES == ${bwd.smemBytes}, "deterministic backward shared memory: config.ts vs BwdFa3Cfg");`,
      ];
      writeFileSync(file, `${kernelSource(prelude, 'bwdFa3')}\n${asserts.join('\n')}\n`);
      const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
      expect(stderr).not.toMatch(/C7508|C7515/);
      expect(stderr).toMatch(/flex_bwd_dkdv/);
      const entry = ptxasEntry(stderr, 'flex_bwd_dkdv');
      expect(entry.registers).toBe(launchRegisters(bwd.threads));
      expect(entry.spillStores).toBeLessThanOrEqual(80);
    }
  }, 300_000);
  // a mod-less variant's prelude with the Hopper configs (the FA3-class backward's), as the backend renders it
  const hopperPrelude = (v: Variant) => {
    const fwd = fwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const bwd = bwdConfig(v.dtype, v.E, v.Ev, { hopper: true });
    const dec = decodeConfig(v.dtype, v.E, v.Ev, 4);
    return renderPrelude({ dtype: v.dtype, E: v.E, Ev: v.Ev, defines: configDefines(fwd, bwd, dec), indexLimit: 2 ** 22 }).prelude;
  };
  it('the FA3-class backward stores its dQ block in fragment order: 16-byte stores, no spills', async () => {
    // every dQ block store is one st.shared.v4 (row-major float2 stores hit 8-way bank conflicts),
    // and the conversion kernel reads the order back
    const v: Variant = { name: 'alone_bwdFa3_dqfrag64', dtype: 'bf16', E: 64, Ev: 64 };
    const prelude = hopperPrelude(v);
    const file = join(dir, `${v.name}.cu`);
    writeFileSync(file, kernelSource(prelude, 'bwdFa3'));
    const ptx = join(dir, `${v.name}.ptx`);
    await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=compute_90a', '-ptx', file, '-o', ptx], { maxBuffer: 64 << 20 }));
    const text = readFileSync(ptx, 'utf8');
    const start = text.indexOf('.entry flex_bwd_dkdv');
    expect(start).toBeGreaterThanOrEqual(0);
    const next = text.indexOf('.entry', start + 1);
    const body = text.slice(start, next < 0 ? undefined : next);
    expect(body.match(/st\.shared\.v4\.f32/g)).toHaveLength(8);
    expect(body).not.toMatch(/st\.shared\.v2\.f32/);
    const { stderr } = await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', '-Xptxas', '-v', '-c', file, '-o', join(dir, `${v.name}.o`)], { maxBuffer: 64 << 20 }));
    expect(stderr).toMatch(/flex_bwd_dkdv/);
    expect(stderr).not.toMatch(/C7508|C7515|C7519/);
    expect(stderr).not.toMatch(/[1-9]\d* bytes spill stores/);
  }, 300_000);
  // The backward's streaming kernels read 16-byte vectors: what their index arithmetic reads is
  // checked on the host (the program below runs here, no GPU), and launch-plan's grid helpers are
  // pinned to the C++ shapes they mirror
  it('the preprocess\'s and the dQ conversion\'s vector forms: shapes as launch-plan sizes them, the conversion reads dq_frag_col\'s columns', async () => {
    const v: Variant = { name: 'alone_bwd_streaming_host', dtype: 'bf16', E: 64, Ev: 64 };
    const prelude = hopperPrelude(v);
    const shapes: string[] = [];
    for (const [type, bytes] of [['__nv_bfloat16', 2], ['__half', 2], ['float', 4]] as const) {
      for (const Ev of [8, 16, 24, 40, 64, 96, 128, 256, 512]) {
        const tpr = `flex::PreprocessShape<${type}, ${Ev}>::TPR`;
        shapes.push(`static_assert((${tpr} > 0 ? 256 / ${tpr} : 8) == ${preprocessRowsPerBlock(Ev, bytes)}, "rows a block: ${type} Ev ${Ev}");`);
      }
    }
    const main = `
${shapes.join('\n')}
#include <cstdio>
int main() {
  int bad = 0, checked = 0;
  for (int qi = 0; qi < 16; ++qi)
    for (int D = 64; D <= 256; D += 64)
      for (int c0 = 0; c0 < D; c0 += 16)
        for (int t = 0; t < 4; ++t) {
          const int at = flex::dq_frag_chunk16(qi, c0, t), cols[4] = {c0 + 2 * t, c0 + 2 * t + 1, c0 + 8 + 2 * t, c0 + 9 + 2 * t};
          bad += at % 4 != 0;
          for (int e = 0; e < 4; ++e, ++checked) bad += flex::dq_frag_col(qi, cols[e]) != at + e;
        }
  std::printf("checked %d bad %d\\n", checked, bad);
  return bad != 0;
}
`;
    const file = join(dir, `${v.name}.cu`);
    writeFileSync(file, kernelSource(prelude, 'bwdFa3') + main);
    const bin = join(dir, v.name);
    await limited(() => run(NVCC, ['-std=c++17', '-gencode=arch=compute_90a,code=sm_90a', file, '-o', bin], { maxBuffer: 64 << 20 }));
    const { stdout } = await run(bin);
    expect(stdout.trim()).toBe(`checked ${16 * (4 + 8 + 12 + 16) * 4 * 4} bad 0`);
  }, 300_000);
  it('queues every variant', () => {
    VARIANTS.forEach((v) => void compile(v).catch(() => {}));
    expect(VARIANTS.length).toBeGreaterThan(10);
  });
  for (const v of VARIANTS) {
    it(`${v.name} (${v.dtype}, E${v.E}, Ev${v.Ev})`, async () => {
      try {
        const { stderr } = await compile(v);
        expect(stderr).not.toMatch(/error/i);
        // ptxas's performance warnings of the Hopper bodies: setmaxnreg ignored (C7508), wgmma
        // serialised (C7515: e.g. accumulators in flight across a loop's back edge)
        expect(stderr).not.toMatch(/C7508|C7515/);
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`nvcc failed for ${v.name}:\n${err.stderr ?? err.message}`);
      }
    }, 900_000);
  }
});

if (!existsSync(NVCC)) {
  describe('generated CUDA compiles', () => {
    it.skip(`skipped: no nvcc at ${NVCC} (set NVCC to a CUDA toolkit's nvcc)`, () => {});
  });
}
