// A forward pass in headless Chromium (WebGPU on SwiftShader), checked against the reference in Node.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, capture, traceMaskMod, traceScoreMod } from '@flexattn/ir';
import { createReferenceBackend } from '@flexattn/ir/reference';
import { compareClose, randomTensor } from '@flexattn/ir/testing';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const require = process.env.FLEXATTN_REQUIRE_BROWSER === '1';

describe.skipIf(!existsSync(CHROMIUM) && !require)(`browser (${CHROMIUM})`, () => {
  let browser: Browser | undefined;
  let server: Server | undefined;
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('runs a causal + alibi forward pass in the page', async () => {
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
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => typeof window.runFlex === 'function');
    const hasGpu = await page.evaluate(async () => !!(navigator as { gpu?: GPU }).gpu && !!(await (navigator as { gpu: GPU }).gpu.requestAdapter()));
    if (!hasGpu) {
      if (require) throw new Error('navigator.gpu has no adapter in headless Chromium');
      console.warn('skipped: navigator.gpu has no adapter in this Chromium');
      return;
    }
    const shape = [1, 2, 19, 16];
    const q = randomTensor(shape, 'f32', 1), k = randomTensor(shape, 'f32', 2), v = randomTensor(shape, 'f32', 3);
    const slopes = [0.5, 0.25];
    const res = await page.evaluate((input) => window.runFlex(input), {
      q: Array.from(q.data), k: Array.from(k.data), v: Array.from(v.data), shape, slopes,
    });
    if ('error' in res) throw new Error(res.error);
    const sl = capture(Float32Array.from(slopes), [2], { name: 'slopes' });
    const want = await createReferenceBackend().flexAttention(q, k, v, {
      scoreMod: traceScoreMod((s, _b, h, qi, kv) => s.add(sl.at(h).mul(kv.sub(qi)))),
      blockMask: blockMaskByEvaluation(traceMaskMod((_b, _h, qi, kv) => qi.ge(kv)), { qLen: 19, kvLen: 19, blockSize: 8 }),
      returnLse: true,
    });
    const tol = { atol: 2e-4, rtol: 2e-4 };
    expect(compareClose({ data: Float32Array.from(res.out), shape: want.out.shape, dtype: 'f32' }, want.out, tol).ok).toBe(true);
    expect(compareClose({ data: Float32Array.from(res.lse), shape: want.lse!.shape, dtype: 'f32' }, want.lse!, tol).ok).toBe(true);
    console.log(`browser device: ${res.device}`);
  });
});
