// The HTML report: its content (escaping, charts, readable numbers), and its look, rendered in
// headless Chromium with layout assertions — no overlapping text, labels inside their chart, the 1×
// line where 1× is, whiskers where p10/p90 are, mask pictures large enough to see.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../deps';
import { suiteCases, type BenchCase } from '../cases';
import { runBlockMaskCases, runCases, type CaseResult } from '../runner';
import { stats } from '../stats';
import { renderHtml } from './html';
import { parseMaskPicture } from './html-mask';
import type { BenchReport } from './json';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const requireBrowser = process.env.FLEXATTN_REQUIRE_BROWSER === '1';

/** Timing samples around `median` with a spread, so every result has a distinct p10–p90. */
const samples = (median: number) => stats(Array.from({ length: 11 }, (_, i) => median * (0.9 + 0.02 * i)));

/**
 * A report shaped like a GPU run of the blog suite with --pass both and --peer torch: long mod
 * names, two backends, a decode case at 1,700 GB/s, a failure, a backend without a device name, an
 * unavailable backend with a multi-line reason, and the real block masks of the blog and quick suites.
 */
function gpuLikeReport(): BenchReport {
  const cases: BenchCase[] = [...suiteCases('blog'), ...suiteCases('quick').filter((c) => c.kind === 'decode')];
  const results: CaseResult[] = [];
  cases.forEach((c, i) => {
    for (const [backend, speed] of [['cuda', 1], ['webgpu', 0.12]] as const) {
      const base = { case: c.id, mod: c.mod, shape: c.id.split(' ').slice(1, -1).join(' '), dtype: c.dtype, kind: c.kind, backend, density: 1, timer: 'device timer' };
      if (backend === 'webgpu' && c.mod === 'document') {
        results.push({ ...base, status: 'failed', error: 'out: 3 element(s) off; worst got 0.51, expected 0.5\nsecond line of the reason' });
        continue;
      }
      const fwd = samples((0.8 + 0.05 * i) / speed);
      const fwdBwd = samples((2.9 + 0.1 * i) / speed);
      results.push({
        ...base,
        status: 'ok',
        verification: { ok: true, maxAbsError: 1e-3, maxRelError: 3e-3, checked: ['out', 'lse', 'dq', 'dk', 'dv'], shape: 'B1 H2/2 L512x512' },
        fwd,
        fwdBwd,
        ...(c.kind === 'decode' ? { gbps: 1700 * speed } : { tflops: 280 * speed * (1 - 0.03 * i), fwdBwdTflops: 190 * speed * (1 - 0.03 * i) }),
        speedupVsReference: 900 * speed,
        peers: backend === 'cuda' ? [{ name: 'torch', fwdMs: fwd.median * (0.7 + 0.05 * (i % 9)), fwdRatio: 0.7 + 0.05 * (i % 9), fwdBwdMs: fwdBwd.median * 1.1, fwdBwdRatio: 1.1 }] : undefined,
      });
    }
  });
  return {
    date: '2026-12-06T00:00:00Z',
    commit: 'test',
    node: process.version,
    suite: 'blog',
    pass: 'both',
    backends: [{ name: 'cuda', device: 'CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)' }, { name: 'webgpu' }],
    unavailable: [{ name: 'metal', reason: '<no driver>\ntried: libmetal.so\nfix: run on macOS' }],
    results,
    blockMasks: runBlockMaskCases([...suiteCases('blog'), ...suiteCases('quick')], 1),
    peers: [{ name: 'torch', info: 'torch 2.9.0 on NVIDIA H100 80GB HBM3' }],
  };
}

describe('HTML report', () => {
  it('escapes text from data, shows the device names, and writes numbers without exponents', () => {
    const html = renderHtml(gpuLikeReport());
    expect(html).toContain('&lt;no driver&gt;\ntried: libmetal.so');
    expect(html).not.toContain('<no driver>');
    expect(html).toContain('<dt>cuda</dt><dd>CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)</dd>');
    expect(html).toContain('<dt>webgpu</dt><dd><i>device not reported</i></dd>');
    expect(html).toContain('1,700 GB/s');
    expect(html).not.toMatch(/\de[+-]\d+ ?(GB\/s|TFLOP\/s|×)/);
    expect((html.match(/<svg class="chart"/g) ?? []).length).toBe(5); // fwd, fwd+bwd, decode, vs reference, vs peer
  });

  it('labels the decode case as decode, not by its mod', () => {
    const html = renderHtml(gpuLikeReport());
    const decodeChart = html.slice(html.indexOf('<h2>Decoding</h2>'), html.indexOf('</figure>', html.indexOf('<h2>Decoding</h2>')));
    expect(decodeChart).toContain('>decode</text>');
    expect(decodeChart).not.toContain('>noop</text>');
  });

  it('reads every block of a BlockMask picture back from its text', async () => {
    const { createBlockMask, traceMaskMod } = await import('../deps');
    const mask = createBlockMask(traceMaskMod((_b, _h, q, kv) => q.ge(kv).and(q.sub(kv).lt(300))), { qLen: 1000, kvLen: 700, blockSize: [128, 64] });
    const dense = mask.toDense();
    const grid = parseMaskPicture(mask.toString());
    expect(grid.rows.length).toBe(mask.qBlocks);
    expect(grid.truncated).toBe(false);
    const kinds = ['empty', 'partial', 'full'];
    grid.rows.forEach((row, qb) => expect(row).toEqual(Array.from({ length: mask.kvBlocks }, (_, kb) => kinds[dense[qb * mask.kvBlocks + kb]!])));
  });
});

describe.skipIf(!existsSync(CHROMIUM) && !requireBrowser)(`HTML report in Chromium (${CHROMIUM})`, () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => browser?.close());

  const open = async (report: BenchReport) => {
    const file = join(mkdtempSync(join(tmpdir(), 'flexattn-report-')), 'report.html');
    writeFileSync(file, renderHtml(report));
    await page.goto(pathToFileURL(file).href);
  };

  /** Per chart: its title, box, text boxes, bars, whiskers and reference line, as laid out by the browser. */
  const layout = () =>
    page.$$eval('svg.chart', (svgs) =>
      svgs.map((svg) => {
        const box = (e: Element) => {
          const r = e.getBoundingClientRect();
          return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        };
        return {
          title: svg.getAttribute('aria-label')!,
          box: box(svg),
          texts: Array.from(svg.querySelectorAll('text')).map((t) => ({ text: t.textContent ?? '', cls: t.getAttribute('class') ?? '', ...box(t) })),
          bars: Array.from(svg.querySelectorAll('rect.bar')).map((r) => ({ value: Number(r.getAttribute('data-value')), ...box(r) })),
          whiskers: Array.from(svg.querySelectorAll('g.error-bar')).map((g) => ({ lo: Number(g.getAttribute('data-lo')), hi: Number(g.getAttribute('data-hi')), ...box(g) })),
          lines: Array.from(svg.querySelectorAll('line.reference-line')).map((l) => ({ value: Number(l.getAttribute('data-value')), ...box(l) })),
        };
      }),
    );
  type Box = { left: number; right: number; top: number; bottom: number };
  const overlap = (a: Box, b: Box) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));

  const RATIO_TITLES = ['Reference time / backend time', 'Peer time / our time (above 1×: we are faster)'];

  /** No overlapping text, text inside its chart, whiskers at p10/p90 and the 1× line at 1, on the scale of the longest bar. */
  function expectReadable(charts: Awaited<ReturnType<typeof layout>>) {
    for (const chart of charts) {
      const where = (what: string) => `${chart.title}: ${what}`;
      for (const t of chart.texts) {
        expect.soft(t.left >= chart.box.left - 0.5 && t.right <= chart.box.right + 0.5 && t.top >= chart.box.top - 0.5 && t.bottom <= chart.box.bottom + 0.5, where(`'${t.text}' outside the chart`)).toBe(true);
        expect.soft(t.text, where('exponent notation')).not.toMatch(/\de[+-]\d/);
      }
      chart.texts.forEach((a, i) =>
        chart.texts.slice(i + 1).forEach((b) => expect.soft(overlap(a, b), where(`'${a.text}' overlaps '${b.text}'`)).toBeLessThan(1)),
      );
      for (const t of chart.texts) for (const b of [...chart.bars, ...chart.whiskers]) expect.soft(overlap(t, b), where(`'${t.text}' runs into a bar`)).toBeLessThan(1);
      const longest = chart.bars.reduce((a, b) => (b.value > a.value ? b : a));
      const x0 = longest.left;
      const pxPerUnit = (longest.right - longest.left) / longest.value;
      for (const w of chart.whiskers) {
        expect.soft(Math.abs(w.left - (x0 + w.lo * pxPerUnit)), where('whisker start ≠ p10')).toBeLessThan(1.5);
        expect.soft(Math.abs(w.right - (x0 + w.hi * pxPerUnit)), where('whisker end ≠ p90')).toBeLessThan(1.5);
      }
      expect(chart.lines.length, where('reference lines')).toBe(RATIO_TITLES.includes(chart.title) ? 1 : 0);
      for (const line of chart.lines) {
        expect(line.value).toBe(1);
        expect.soft(Math.abs((line.left + line.right) / 2 - (x0 + pxPerUnit)), where('1× line not at 1')).toBeLessThan(1.5);
        expect(chart.texts.some((t) => t.cls === 'reference-label' && t.text.startsWith('1×')), where('1× label')).toBe(true);
      }
    }
  }

  it('lays the report out readably: no overlapping text, labels inside their chart, 1× lines and whiskers where their values are', async () => {
    await open(gpuLikeReport());
    const charts = await layout();
    expect(charts.map((c) => c.title)).toEqual([
      'Forward: useful FLOP/s per case and backend',
      'Forward+backward: useful FLOP/s (3.5× the forward work)',
      'Decoding: K+V read bandwidth',
      ...RATIO_TITLES,
    ]);
    expectReadable(charts);
    // every timed bar of a TFLOP/s or GB/s chart has its p10–p90 whisker
    for (const chart of charts.slice(0, 3)) expect(chart.whiskers.length, chart.title).toBe(chart.bars.length);
    expect(charts[2]!.texts.filter((t) => t.cls === 'group-label').map((t) => t.text)).toEqual(['decode', 'decode']);
    // nothing is wider than the window
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
  });

  it('shows each device, each unavailable reason on its own lines, and mask pictures large enough to see', async () => {
    await open(gpuLikeReport());
    const devices = await page.$$eval('dl.devices dd', (dds) => dds.map((d) => (d as HTMLElement).innerText));
    expect(devices[0]).toBe('CUDA NVIDIA H100 80GB HBM3 (sm_90a, 132 SMs, 79.2 GiB)');
    expect(devices[1]).toBe('device not reported');
    expect(devices[2]).toBe('not available\n<no driver>\ntried: libmetal.so\nfix: run on macOS');
    const failures = await page.$eval('.failures', (d) => (d as HTMLElement).innerText);
    expect(failures).toContain('out: 3 element(s) off; worst got 0.51, expected 0.5\nsecond line of the reason');
    const pictures = await page.$$eval('svg.mask-picture', (svgs) => svgs.map((s) => ({ label: s.getAttribute('aria-label'), width: s.getBoundingClientRect().width, height: s.getBoundingClientRect().height, cells: s.querySelectorAll('rect[fill="#1f3f6e"], rect[fill="#8fb8de"]').length })));
    expect(pictures.length).toBe(12);
    for (const p of pictures) {
      expect(Math.max(p.width, p.height), p.label!).toBeGreaterThanOrEqual(190);
      expect(p.cells, p.label!).toBeGreaterThan(0);
    }
    // the quick suite's L256 masks are 2×2 blocks: each block is 100 px, not a 9 px character
    const causal2x2 = await page.$eval('figure.mask:has(figcaption:text-matches("L256x256")) svg', (s) => s.getBoundingClientRect().width);
    expect(causal2x2).toBeGreaterThanOrEqual(190);
  });

  it('renders a real run of the reference against a copy of itself', async () => {
    const cases = suiteCases('quick').filter((c) => c.mod === 'causal' || c.kind === 'decode');
    const ref = createReferenceBackend();
    const copy = { ...createReferenceBackend(), name: 'copy' };
    const results = await runCases(cases, [{ name: 'reference', backend: ref }, { name: 'copy', backend: copy }], { pass: 'fwd', warmup: 0, iterations: 2 });
    await open({ date: '2026-12-06T00:00:00Z', commit: 'test', node: process.version, suite: 'quick', pass: 'fwd', backends: [{ name: 'reference', device: 'CPU' }, { name: 'copy' }], unavailable: [], results, blockMasks: runBlockMaskCases(cases, 2) });
    const charts = await layout();
    expect(charts.map((c) => c.title)).toEqual(['Forward: useful FLOP/s per case and backend', 'Decoding: K+V read bandwidth', 'Reference time / backend time']);
    expectReadable(charts);
    const png = await page.screenshot({ fullPage: true });
    expect(png.length).toBeGreaterThan(5000);
  });
});
