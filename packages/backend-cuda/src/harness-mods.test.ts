// The harness's generated mod headers, compiled with the local nvcc (device hooks included) into a
// small driver that prints the host reference over a grid of (score, b, h, q, kv): it must agree
// with ir's evaluator (compileToJs) for the mask, the score mod, its derivative, and the capture
// gradient scatter (against central differences of the score mod in the captured tensor).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CapturedTensor, compileToJs, gradScore, Scalar, type TracedMod } from '@flexattn/ir';
import { afterAll, describe, expect, it } from 'vitest';
import { type HarnessMod, harnessMods, renderHarnessMod } from './harness-mods';

const NVCC = process.env.NVCC ?? '/usr/local/cuda/bin/nvcc';
const HARNESS = fileURLToPath(new URL('../harness', import.meta.url));
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'flexattn-harness-mods-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCORES = [-3.5, 0.25, 7];
const GRID = { B: 2, H: 4, L: 10 };

/** ModCtx's data as the mod's own captures hold it (so the evaluator reads the same numbers). */
function ctxInit(m: HarnessMod): { lines: string[]; grads: number } {
  const lines = [`c.H = ${GRID.H};`];
  let grads = 1;
  for (const [p, name] of m.bind ?? []) {
    if (p instanceof CapturedTensor) {
      lines.push(`c.${name} = {${Array.from(p.data).join(', ')}};`);
      lines.push(name === 'slope' ? `c.H = ${p.data.length};` : `c.doc_len = ${p.data.length};`);
      if (name === 'slope') grads = p.data.length;
    } else if (p instanceof Scalar) lines.push(`c.${name} = ${p.value};`);
  }
  return { lines, grads };
}

function driver(m: HarnessMod, header: string): string {
  const init = ctxInit(m);
  return `#include <cmath>
#include <cstdio>
#include <vector>
#include "mod-ctx.h"
${header}
int main() {
  ModCtx c;
  ${init.lines.join('\n  ')}
  const double scores[] = {${SCORES.join(', ')}};
  for (int b = 0; b < ${GRID.B}; ++b)
    for (int h = 0; h < ${GRID.H}; ++h)
      for (int q = 0; q < ${GRID.L}; ++q)
        for (int kv = 0; kv < ${GRID.L}; ++kv)
          for (double s : scores) {
            std::vector<double> g(${init.grads}, 0.0);
            HostMod::capture(c, g, 1.0, s, b, h, q, kv);
            printf("%d %.17g %.17g", HostMod::mask(c, b, h, q, kv) ? 1 : 0, HostMod::score(c, s, b, h, q, kv), HostMod::grad(c, s, b, h, q, kv));
            for (double x : g) printf(" %.17g", x);
            printf("\\n");
          }
  FlexScoreParams sp{};
  FlexMaskParams mp{};
  HostMod::setup(c, sp, mp);
  return 0;
}
`;
}

/** What the evaluator says, line by line in the driver's order. */
function expected(score: TracedMod | undefined, mask: TracedMod | undefined): number[][] {
  const s = score ? compileToJs(score) : (x: number) => x;
  const g = score ? compileToJs(gradScore(score)) : () => 1;
  const m = mask ? compileToJs(mask) : () => true;
  const learnable = score?.captures.find((c): c is CapturedTensor => c instanceof CapturedTensor && c.requiresGrad);
  const rows: number[][] = [];
  for (let b = 0; b < GRID.B; b++)
    for (let h = 0; h < GRID.H; h++)
      for (let q = 0; q < GRID.L; q++)
        for (let kv = 0; kv < GRID.L; kv++)
          for (const x of SCORES) {
            const d = learnable
              ? Array.from(learnable.data, (v, i) => {
                  // the step as stored (f32), so the quotient is exact for a linear dependence
                  learnable.data[i] = v + 1 / 64;
                  const hi = learnable.data[i]!;
                  const up = s(x, b, h, q, kv) as number;
                  learnable.data[i] = v - 1 / 64;
                  const lo = learnable.data[i]!;
                  const down = s(x, b, h, q, kv) as number;
                  learnable.data[i] = v;
                  return (up - down) / (hi - lo);
                })
              : [0];
            rows.push([m(b, h, q, kv) ? 1 : 0, s(x, b, h, q, kv) as number, g(x, b, h, q, kv) as number, ...d]);
          }
  return rows;
}

/** Renders and compiles a mod's driver; nvcc is slow, so at most one compile per core at a time. */
let slots = Math.max(1, availableParallelism());
const waiting: (() => void)[] = [];
async function build(m: HarnessMod) {
  // a window narrower than the grid, so the bound scalar matters
  for (const [p, name] of m.bind ?? []) if (p instanceof Scalar && name === 'window') p.value = 3;
  const r = renderHarnessMod(m);
  const src = join(dir, `${m.name}.cu`);
  writeFileSync(src, driver(m, r.header));
  const exe = join(dir, m.name);
  if (slots === 0) await new Promise<void>((go) => waiting.push(go));
  else slots--;
  try {
    await run(NVCC, ['-std=c++17', `-I${HARNESS}`, '-o', exe, src], { maxBuffer: 1 << 24 });
  } finally {
    const next = waiting.shift();
    if (next) next();
    else slots++;
  }
  return { r, exe };
}

describe.runIf(existsSync(NVCC))('CUDA harness mods (generated from the kernel-hook plan)', () => {
  const mods = harnessMods();
  const built = new Map(mods.map((m) => [m.name, build(m)]));
  built.forEach((b) => b.catch(() => {}));
  for (const m of mods) {
    it(m.name, async () => {
      const { r, exe } = await built.get(m.name)!;
      const { stdout } = await run(exe, [], { maxBuffer: 1 << 26 });
      const got = stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
      const want = expected(r.scoreMod, r.maskMod);
      expect(got.length).toBe(want.length);
      got.forEach((row, i) => {
        const w = want[i]!;
        expect(row[0], `mask, row ${i}`).toBe(w[0]);
        for (let k = 1; k < w.length; k++) {
          const tol = k < 3 ? 1e-12 * Math.max(1, Math.abs(w[k]!)) : 1e-6;
          if (!(Math.abs(row[k]! - w[k]!) <= tol)) expect.fail(`${m.name} row ${i} column ${k}: host ${row[k]}, evaluator ${w[k]}`);
        }
      });
    }, 240_000);
  }
});

// The harness's kernels take the backend's paths: a mask reading a tensor under the identity score
// gets config.ts's shared column values (FLEX_FA3_SMEM_COLS), every other mod does not
describe('harness mod headers choose the Hopper bodies\' paths as config.ts does', () => {
  it('FLEX_FA3_SMEM_COLS for the document masks alone', () => {
    const withCols = harnessMods().filter((m) => renderHarnessMod(m).header.includes('#define FLEX_FA3_SMEM_COLS 1')).map((m) => m.name);
    expect(withCols.length).toBeGreaterThan(0);
    for (const name of withCols) expect(name).toMatch(/^document/);
    expect(harnessMods().filter((m) => m.name.startsWith('document')).map((m) => m.name)).toEqual(withCols);
  });
});
