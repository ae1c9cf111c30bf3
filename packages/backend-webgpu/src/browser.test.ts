// A forward pass in headless Chromium (WebGPU on SwiftShader), checked against the reference in Node:
// f32, and f16 (kept f16 on the device where the adapter has shader-f16, else widened with a note).
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, capture, fromFloats, toFloat64, traceMaskMod, traceScoreMod, type DType } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, DEFAULT_TOLERANCE, randomTensor } from '@flexattn/ir/testing';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const require = process.env.FLEXATTN_REQUIRE_BROWSER === '1';

describe.skipIf(!existsSync(CHROMIUM) && !require)(`browser (${CHROMIUM})`, () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  /** The page (bundle, browser and server started on first use), or undefined where Chromium has no adapter. */
  let page: Page | undefined;
  async function openPage(): Promise<Page | undefined> {
    if (browser) return page;
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('./browser-page.test-helpers.ts', import.meta.url))],
      // No `source` condition: @flexattn/ir comes from its built dist/, as users get it.
      bundle: true, write: false, format: 'iife', platform: 'browser',
      external: ['webgpu'], logLevel: 'silent',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        // WebGPU on SwiftShader (Chromium's bundled CPU Vulkan), headless
        '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader',
        '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      ],
    });
    // WebGPU needs a secure context: serve the page from 127.0.0.1 (no network needed)
    const js = bundle.outputFiles[0]!.text;
    server = createServer((req, res) => {
      if (req.url === '/page.js') {
        res.setHeader('content-type', 'text/javascript');
        res.end(js);
      } else {
        res.setHeader('content-type', 'text/html');
        res.end('<!doctype html><title>flexattn</title><script src="/page.js"></script>');
      }
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => typeof window.runFlex === 'function');
    const hasGpu = await page.evaluate(async () => !!(navigator as { gpu?: GPU }).gpu && !!(await (navigator as { gpu: GPU }).gpu.requestAdapter()));
    if (!hasGpu) {
      if (require) throw new Error('navigator.gpu has no adapter in headless Chromium');
      console.warn('skipped: navigator.gpu has no adapter in this Chromium');
      page = undefined;
    }
    return page;
  }

  /** A causal + alibi forward in the page, compared with the reference (same dtype, float64 inside). */
  async function checkForward(dtype: DType, tol: { atol: number; rtol: number }): Promise<boolean | undefined> {
    const tab = await openPage();
    if (!tab) return undefined;
    const shape = [1, 2, 19, 16];
    const q = randomTensor(shape, dtype, 1), k = randomTensor(shape, dtype, 2), v = randomTensor(shape, dtype, 3);
    const slopes = [0.5, 0.25];
    const res = await tab.evaluate((input) => window.runFlex(input), {
      q: Array.from(q.data), k: Array.from(k.data), v: Array.from(v.data), shape, slopes, dtype: dtype as 'f32' | 'f16',
    });
    if ('error' in res) throw new Error(res.error);
    const sl = capture(Float32Array.from(slopes), [2], { name: 'slopes' });
    const want = await createReferenceBackend().flexAttention(q, k, v, {
      scoreMod: traceScoreMod((s, _b, h, qi, kv) => s.add(sl.at(h).mul(kv.sub(qi)))),
      blockMask: blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: 19, kvLen: 19, blockSize: 8 }),
      returnLse: true,
    });
    const got = (xs: number[], like: { shape: readonly number[] }) => fromFloats(Float64Array.from(xs), like.shape, 'f32');
    const wantOut = fromFloats(toFloat64(want.out), want.out.shape, 'f32');
    const outCheck = compareClose(got(res.out, want.out), wantOut, tol);
    expect(outCheck.ok, `${dtype} out: max |error| ${outCheck.maxAbsError}`).toBe(true);
    expect(compareClose(got(res.lse, want.lse!), want.lse!, tol).ok, `${dtype} lse`).toBe(true);
    console.log(`browser device: ${res.device}; ${dtype}${dtype === 'f16' ? (res.f16Storage ? ' stored as f16 (shader-f16)' : ' widened to f32 (no shader-f16)') : ''}`);
    return res.f16Storage;
  }

  it('runs a causal + alibi forward pass in the page', async () => {
    await checkForward('f32', { atol: 2e-4, rtol: 2e-4 });
  });

  it('runs it in f16: stored as f16 where the adapter has shader-f16, else widened — within f16 tolerance either way', async () => {
    await checkForward('f16', DEFAULT_TOLERANCE.f16.forward);
  });
});
