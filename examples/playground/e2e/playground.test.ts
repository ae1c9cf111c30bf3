// The playground in headless Chromium (WebGPU on SwiftShader), driven as a person would: show a
// block mask, check a mod on WebGPU against the reference, time it, see a broken mod's error, run
// the README example. PLAYGROUND_DIR is a built playground (scripts/consumer-check.mjs builds one
// against the packed packages); README_NODE_OUTPUT, when set, is what the same example printed
// in Node, which the page must match.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DIR = process.env.PLAYGROUND_DIR;
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

/** Serves the built site from 127.0.0.1: WebGPU needs a secure context, and loopback is one. */
function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.startsWith(dir) && existsSync(path) && !path.endsWith('/') ? path : join(dir, 'index.html');
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The numbers in a line of output, e.g. the shapes and the first outputs the README example logs. */
const numbersIn = (text: string) => (text.match(/-?\d+(\.\d+)?(e[-+]?\d+)?/gi) ?? []).map(Number);

describe.runIf(DIR)('playground in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let page: Page;
  beforeAll(async () => {
    if (!existsSync(join(DIR!, 'index.html'))) throw new Error(`PLAYGROUND_DIR=${DIR} holds no built playground (index.html)`);
    server = await serve(DIR!);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--use-webgpu-adapter=swiftshader',
        '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--no-first-run', '--disable-quic',
      ],
    });
    page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#preset option').length > 0);
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  /** Clicks a button and waits for its work (the page marks the body busy while it runs); fails on the page's error. */
  const run = async (button: string) => {
    await page.click(button);
    await page.waitForFunction(() => !document.body.dataset.busy, undefined, { timeout: 180_000 });
    if (await page.locator('#error').isVisible()) throw new Error(`the page reported: ${await page.locator('#error').textContent()}`);
  };

  it('shows the block mask of the default causal mod with the sparsity a causal mask has', async () => {
    await page.fill('[data-shape="large"] input[name="L"]', '1024');
    await run('#show-mask');
    const n = 1024 / 128; // blocks per side; block (i, j) is empty exactly when j > i
    const expected = (100 * (n * (n - 1)) / 2) / (n * n);
    expect(Number(await page.locator('#sparsity').getAttribute('data-value'))).toBeCloseTo(expected, 9);
    expect(await page.locator('#sparsity').textContent()).toContain(`of the ${n}×${n} blocks skipped`);
    const canvas = await page.locator('#mask-canvas').evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
    expect(canvas[0]).toBeGreaterThanOrEqual(n * 6);
    expect(canvas[0]).toBe(canvas[1]);
  });

  it('runs the mod on WebGPU next to the float64 reference and shows the max error', async () => {
    await run('#run-check');
    const result = page.locator('#check-result');
    expect(await result.textContent()).toMatch(/^matches the float64 reference: max \|Δout\| [\d.e+-]+, max \|Δlse\| /);
    expect(await result.getAttribute('data-ok')).toBe('true');
    const maxError = Number(await result.getAttribute('data-max-error'));
    expect(maxError).toBeGreaterThanOrEqual(0);
    expect(maxError).toBeLessThan(1e-3);
    expect(await page.locator('#device').textContent()).toMatch(/^WebGPU /);
  });

  it('times the forward pass on the large shape', async () => {
    await page.fill('[data-shape="large"] input[name="L"]', '512');
    await run('#run-time');
    const ms = Number(await page.locator('#time-result').getAttribute('data-ms'));
    expect(ms).toBeGreaterThan(0);
    expect(await page.locator('#time-result').textContent()).toMatch(/^forward \[1, 4, 512, 64\]: [\d.]+ ms/);
  });

  it('a mod written with JS operators shows the TraceError that names the method to use', async () => {
    await page.fill('#mask-src', '(b, h, q, kv) => q >= kv');
    await page.click('#show-mask');
    await page.waitForSelector('#error:not([hidden])');
    const error = await page.locator('#error').textContent();
    expect(error).toMatch(/^TraceError: /);
    expect(error).toContain('.ge(');
  });

  it('runs the README example unchanged, printing what it prints in Node', async () => {
    await run('#run-readme');
    const text = (await page.locator('#readme-output').textContent())!;
    const numbers = numbersIn(text);
    expect(numbers.slice(0, 7)).toEqual([1, 8, 256, 64, 1, 8, 256]); // out.shape, lse.shape
    expect(numbers.length).toBe(10);
    const node = process.env.README_NODE_OUTPUT;
    if (node) {
      const fromNode = numbersIn(node.replace(/Float32Array\(\d+\)/g, ''));
      expect(fromNode.length).toBe(numbers.length);
      fromNode.forEach((x, i) => expect(numbers[i]).toBeCloseTo(x, 6));
    }
  });
});
