/**
 * A grouped horizontal bar chart as inline SVG: one group per case (its title over its shape), one
 * bar per series, an optional p10–p90 error bar per bar, and an optional reference line (1× on ratio
 * charts). The label column and the value margin are sized from the longest text, so labels never
 * run into bars; chart text is monospace because that makes its width predictable.
 */
import { escapeHtml } from './escape';
import { formatNumber, formatValue } from './format';

export interface Bar {
  /** The case: first label line. */
  group: string;
  /** Second label line (shape, dtype). */
  subtitle?: string;
  series: string;
  value: number;
  /** The p10–p90 spread, drawn as an error bar. */
  lo?: number;
  hi?: number;
}

export interface ChartSpec {
  title: string;
  unit: string;
  bars: readonly Bar[];
  /** A dashed vertical line, e.g. `{ value: 1, label: '1× = same speed' }` on ratio charts. */
  referenceLine?: { value: number; label: string };
  /** A series' colour (default: by its order in this chart), so a backend has one colour in every chart. */
  colorOf?: (series: string, index: number) => string;
}

export const SERIES_COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2'];

const WIDTH = 900;
const GROUP_FONT = 12;
const SUBTITLE_FONT = 10.5;
const VALUE_FONT = 11;
// Advance of a monospace glyph in em (DejaVu Sans Mono, Menlo, Courier: 0.60), plus a margin.
const MONO_EM = 0.62;
const BAR_H = 14;
const BAR_GAP = 4;
const GROUP_GAP = 12;
const LABEL_LINES_H = 30;
const TOP = 30;

const textWidth = (text: string, fontSize: number) => text.length * fontSize * MONO_EM;
const px = (x: number) => x.toFixed(1);

export function barChart(spec: ChartSpec): string {
  const { title, unit, bars, referenceLine } = spec;
  const colorOf = spec.colorOf ?? ((_s: string, i: number) => SERIES_COLORS[i % SERIES_COLORS.length]!);
  const groups = [...new Map(bars.map((b) => [b.group + '\u0000' + (b.subtitle ?? ''), b])).values()].map((b) => ({ group: b.group, subtitle: b.subtitle }));
  const series = [...new Set(bars.map((b) => b.series))];
  const valueText = (b: Bar) => formatValue(b.value, unit);

  const labelWidth = Math.max(...groups.map((g) => Math.max(textWidth(g.group, GROUP_FONT), textWidth(g.subtitle ?? '', SUBTITLE_FONT))));
  const left = Math.ceil(labelWidth) + 16;
  const valueWidth = Math.max(...bars.map((b) => textWidth(valueText(b), VALUE_FONT))) + 10;
  const plotWidth = WIDTH - left - valueWidth - 8;
  const max = Math.max(1e-12, ...bars.map((b) => Math.max(b.value, b.hi ?? 0)), referenceLine?.value ?? 0);
  const x = (v: number) => left + (plotWidth * Math.max(0, v)) / max;

  const groupHeight = Math.max(series.length * (BAR_H + BAR_GAP) - BAR_GAP, LABEL_LINES_H) + GROUP_GAP;
  const plotBottom = TOP + groups.length * groupHeight;
  const height = plotBottom + (referenceLine ? 22 : 6);

  const parts: string[] = [
    `<svg class="chart" role="img" aria-label="${escapeHtml(title)}" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" xmlns="http://www.w3.org/2000/svg">`,
    `<text class="chart-title" x="4" y="16">${escapeHtml(title)}</text>`,
  ];
  groups.forEach((g, gi) => {
    const y0 = TOP + gi * groupHeight;
    parts.push(`<text class="group-label" x="${left - 10}" y="${y0 + 11}" text-anchor="end">${escapeHtml(g.group)}</text>`);
    if (g.subtitle) parts.push(`<text class="group-subtitle" x="${left - 10}" y="${y0 + 25}" text-anchor="end">${escapeHtml(g.subtitle)}</text>`);
    series.forEach((s, si) => {
      const b = bars.find((c) => c.group === g.group && c.subtitle === g.subtitle && c.series === s);
      if (!b) return;
      const y = y0 + si * (BAR_H + BAR_GAP);
      const mid = y + BAR_H / 2;
      const spread = b.lo !== undefined && b.hi !== undefined ? ` (p10–p90 ${formatNumber(b.lo)}–${formatNumber(b.hi)})` : '';
      const end = Math.max(left + 1, x(b.value));
      parts.push(
        `<rect class="bar" data-value="${b.value}" x="${left}" y="${y}" width="${px(end - left)}" height="${BAR_H}" fill="${colorOf(s, si)}"><title>${escapeHtml(`${s}: ${valueText(b)}${spread}`)}</title></rect>`,
      );
      let labelX = end;
      if (b.lo !== undefined && b.hi !== undefined) {
        const [lo, hi] = [x(b.lo), x(b.hi)];
        parts.push(
          `<g class="error-bar" data-lo="${b.lo}" data-hi="${b.hi}" stroke="#222" stroke-width="1.2"><line x1="${px(lo)}" y1="${mid}" x2="${px(hi)}" y2="${mid}"/><line x1="${px(lo)}" y1="${mid - 4}" x2="${px(lo)}" y2="${mid + 4}"/><line x1="${px(hi)}" y1="${mid - 4}" x2="${px(hi)}" y2="${mid + 4}"/></g>`,
        );
        labelX = Math.max(labelX, hi);
      }
      parts.push(`<text class="value-label" x="${px(labelX + 5)}" y="${mid + 4}">${escapeHtml(valueText(b))}</text>`);
    });
  });
  if (referenceLine) {
    const rx = x(referenceLine.value);
    // the label is centred under the line, but kept inside the chart when the line is near an edge
    const half = textWidth(referenceLine.label, VALUE_FONT) / 2 + 2;
    const labelX = Math.min(Math.max(rx, half), WIDTH - half);
    parts.push(
      `<line class="reference-line" data-value="${referenceLine.value}" x1="${px(rx)}" y1="${TOP - 6}" x2="${px(rx)}" y2="${plotBottom - GROUP_GAP / 2}" stroke="#c00" stroke-width="1.5" stroke-dasharray="5 3"/>`,
      `<text class="reference-label" x="${px(labelX)}" y="${plotBottom + 12}" text-anchor="middle">${escapeHtml(referenceLine.label)}</text>`,
    );
  }
  parts.push('</svg>');
  const legend = series.map((s, i) => `<span class="key"><i style="background:${colorOf(s, i)}"></i>${escapeHtml(s)}</span>`).join(' ');
  const spreadNote = bars.some((b) => b.lo !== undefined) ? ' · whiskers: p10–p90 of the timed runs' : '';
  return `<figure>${parts.join('')}<figcaption>${legend} <span class="unit">(${escapeHtml(unit)}${spreadNote})</span></figcaption></figure>`;
}
