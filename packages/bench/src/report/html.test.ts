import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../deps';
import { runBlockMaskCases, runCases } from '../runner';
import { suiteCases } from '../cases';
import { renderHtml } from './html';
import type { BenchReport } from './json';

const chromium = '/usr/bin/chromium';
const haveBrowser = existsSync(chromium);
if (!haveBrowser && process.env.FLEXATTN_REQUIRE_BROWSER === '1') throw new Error(`FLEXATTN_REQUIRE_BROWSER=1 but ${chromium} is missing (apt-get install chromium)`);

async function sampleReport(): Promise<BenchReport> {
  const cases = suiteCases('quick').filter((c) => c.mod === 'causal' || c.mod === 'document');
  const ref = createReferenceBackend();
  const copy = { ...createReferenceBackend(), name: 'copy' };
  const results = await runCases(cases, [{ name: 'reference', backend: ref }, { name: 'copy', backend: copy }], { pass: 'fwd', warmup: 0, iterations: 1 });
  return { date: '2026-11-25T00:00:00Z', commit: 'test', node: process.version, suite: 'quick', pass: 'fwd', backends: [{ name: 'reference' }, { name: 'copy' }], unavailable: [{ name: 'cuda', reason: '<no driver>' }], results, blockMasks: runBlockMaskCases(cases, 2) };
}

describe('HTML report', () => {
  it('escapes text from data and embeds one chart per section', async () => {
    const html = renderHtml(await sampleReport());
    expect(html).toContain('&lt;no driver&gt;');
    expect(html).not.toContain('<no driver>');
    expect((html.match(/<svg class="chart"/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it.skipIf(!haveBrowser)('renders its charts and block-mask pictures in Chromium', async () => {
    const { chromium: launcher } = await import('playwright-core');
    const dir = mkdtempSync(join(tmpdir(), 'flexattn-report-'));
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(await sampleReport()));
    const browser = await launcher.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      await page.goto(pathToFileURL(file).href);
      const bars = await page.$$eval('svg.chart rect', (rects) => rects.map((r) => (r as SVGRectElement).getBBox().width));
      expect(bars.length).toBeGreaterThan(0);
      expect(bars.every((w) => w > 0)).toBe(true);
      const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => s.getBoundingClientRect().height));
      expect(charts.every((h) => h > 20)).toBe(true);
      const picture = await page.$eval('section.mask pre', (pre) => pre.textContent ?? '');
      expect(picture).toMatch(/[█░]/);
      const png = await page.screenshot({ fullPage: true });
      expect(png.length).toBeGreaterThan(5000);
    } finally {
      await browser.close();
    }
  });
});
