/**
 * The HTML report: one self-contained page (inline SVG and CSS, no scripts or external assets).
 * Devices first, then failures, then charts — forward and forward+backward TFLOP/s and decoding
 * GB/s with p10–p90 whiskers, speed-up over the reference and the ratio to each peer with a 1× line —
 * every result in a table, and each mask's BlockMask picture. Every text from data is escaped.
 */
import { peerText } from '../peer';
import type { CaseResult } from '../runner';
import { type Bar, barChart, SERIES_COLORS } from './html-chart';
import { maskSvg, parseMaskPicture, BLOCK_COLORS } from './html-mask';
import { escapeHtml as esc } from './escape';
import { caseTitle, formatDuration, formatNumber, formatRate, formatRelError, formatValue, MISSING, rateSpread, readableRateUnit } from './format';
import type { BenchReport } from './json';

/** The case id without its first word (the mod, or `decode`): shape, dtype and any block size. */
const subtitle = (r: CaseResult) => r.case.slice(r.case.indexOf(' ') + 1);
const RATIO_LINE = { value: 1, label: '1× = same speed' };

/** The bars of a rate chart in the unit that reads best (see readableRateUnit). */
function inReadableUnit(bars: Bar[], unit: string): { bars: Bar[]; unit: string } {
  const readable = readableRateUnit(unit, Math.max(0, ...bars.map((b) => b.value)));
  const f = readable.factor;
  return { unit: readable.unit, bars: bars.map((b) => ({ ...b, value: b.value * f, ...(b.lo !== undefined && b.hi !== undefined ? { lo: b.lo * f, hi: b.hi * f } : {}) })) };
}

function charts(report: BenchReport): string {
  const ok = report.results.filter((r) => r.status === 'ok');
  const attention = ok.filter((r) => r.kind === 'attention');
  const bar = (r: CaseResult, series: string, value: number, spread?: { lo: number; hi: number }): Bar => ({ group: caseTitle(r), subtitle: subtitle(r), series, value, ...spread });
  const fwd = attention.filter((r) => r.tflops).map((r) => bar(r, r.backend, r.tflops!, rateSpread(r.tflops, r.fwd)));
  const fwdBwd = attention.filter((r) => r.fwdBwdTflops).map((r) => bar(r, r.backend, r.fwdBwdTflops!, rateSpread(r.fwdBwdTflops, r.fwdBwd)));
  const decode = ok.filter((r) => r.gbps).map((r) => bar(r, r.backend, r.gbps!, rateSpread(r.gbps, r.fwd)));
  const speedup = ok.filter((r) => r.speedupVsReference).map((r) => bar(r, r.backend, r.speedupVsReference!));
  const peers = ok.flatMap((r) =>
    (r.peers ?? []).flatMap((p) => [
      ...(p.fwdRatio ? [bar(r, `${r.backend} vs ${p.name}, forward`, p.fwdRatio)] : []),
      ...(p.fwdBwdRatio ? [bar(r, `${r.backend} vs ${p.name}, fwd+bwd`, p.fwdBwdRatio)] : []),
    ]),
  );
  // one colour per backend in every chart (peer series: by their order)
  const backendNames = [...new Set([...report.backends.map((b) => b.name), ...report.results.map((r) => r.backend)])];
  const colorOf = (series: string, index: number) => SERIES_COLORS[(backendNames.includes(series) ? backendNames.indexOf(series) : index) % SERIES_COLORS.length]!;
  const section = (heading: string, bars: Bar[], chart: () => string) => (bars.length ? `<h2>${esc(heading)}</h2>${chart()}` : '');
  const rate = (title: string, unit: string, bars: Bar[]) => barChart({ title, ...inReadableUnit(bars, unit), colorOf });
  const ratio = (title: string, bars: Bar[], colors = colorOf) => barChart({ title, unit: '×', bars, referenceLine: RATIO_LINE, colorOf: colors });
  const tflopNote = '<p class="note">Useful FLOP/s count only the (q, kv) pairs the mask keeps; the whisker is the p10–p90 of the timed runs.</p>';
  return [
    section('Forward', fwd, () => rate('Forward: useful FLOP/s per case and backend', 'TFLOP/s', fwd) + tflopNote),
    section('Forward + backward', fwdBwd, () => rate('Forward+backward: useful FLOP/s (3.5× the forward work)', 'TFLOP/s', fwdBwd)),
    section('Decoding', decode, () => rate('Decoding: K+V read bandwidth', 'GB/s', decode)),
    section('Speed-up over the float64 reference', speedup, () => ratio('Reference time / backend time', speedup)),
    section('Ratio to the peers', peers, () => ratio('Peer time / our time (above 1×: we are faster)', peers, (_s, i) => SERIES_COLORS[i % SERIES_COLORS.length]!)),
  ].join('\n');
}

const timeCell = (s: CaseResult['fwd']) => (s ? `${formatDuration(s.median)}<br><small>${formatDuration(s.p10)}–${formatDuration(s.p90)}</small>` : MISSING);

function resultsTable(report: BenchReport): string {
  const num = (x: number | undefined) => formatNumber(x, 4);
  const peerCell = (r: CaseResult) =>
    r.peers?.length ? r.peers.map((p) => `${esc(peerText([p], num, 300))}${p.note ? ` <small>(${esc(p.note)})</small>` : ''}`).join('<br>') : MISSING;
  const check = (r: CaseResult) =>
    r.status !== 'ok' ? `<b>${r.status.toUpperCase()}</b>` : r.verification ? `ok <small>(rel err ${formatRelError(r.verification.maxRelError)})</small>` : 'oracle';
  const notes = (r: CaseResult) => [r.extrapolated ? 'extrapolated from a reduced shape' : '', r.timer ?? ''].filter(Boolean).join('; ');
  const rows = report.results.map(
    (r) =>
      `<tr class="${r.status}"><td>${esc(caseTitle(r))}<br><small>${esc(subtitle(r))}</small></td><td>${esc(r.backend)}</td><td>${check(r)}</td>` +
      `<td>${timeCell(r.fwd)}</td><td>${formatRate(r.tflops, 'TFLOP/s')}</td><td>${timeCell(r.fwdBwd)}</td><td>${formatRate(r.fwdBwdTflops, 'TFLOP/s')}</td>` +
      `<td>${formatRate(r.gbps, 'GB/s')}</td><td>${r.speedupVsReference ? formatValue(r.speedupVsReference, '×') : MISSING}</td><td>${peerCell(r)}</td>` +
      `<td>${esc(notes(r))}${r.error ? `<pre class="error">${esc(r.error)}</pre>` : ''}</td></tr>`,
  );
  return `<table class="results"><thead><tr><th>case</th><th>backend</th><th>check</th><th>forward<br><small>median, p10–p90</small></th><th>forward<br><small>useful FLOP/s</small></th><th>fwd+bwd<br><small>median, p10–p90</small></th><th>fwd+bwd<br><small>useful FLOP/s</small></th><th>K+V read</th><th>vs reference</th><th>peers<br><small>time, peer/ours</small></th><th>notes</th></tr></thead><tbody>\n${rows.join('\n')}</tbody></table>`;
}

function masks(report: BenchReport): string {
  if (!report.blockMasks.length) return '';
  const figures = report.blockMasks.map((b) => {
    const grid = parseMaskPicture(b.picture);
    const blocks = `${grid.rows.length}×${Math.max(0, ...grid.rows.map((r) => r.length))} blocks${grid.truncated ? ' shown (of more)' : ''}`;
    return `<figure class="mask">${maskSvg(grid, 200, `${b.mod} block mask`)}<figcaption><b>${esc(b.mod)}</b><br>${esc(b.shape)}<br>${blocks}, ${b.sparsity.toFixed(1)}% sparse<br>createBlockMask ${formatDuration(b.ms.median)}</figcaption></figure>`;
  });
  const key = `<p class="note"><span class="key"><i style="background:${BLOCK_COLORS.full}"></i>full block</span> <span class="key"><i style="background:${BLOCK_COLORS.partial}"></i>partial block (the mask is evaluated)</span> <span class="key"><i class="empty"></i>empty block (skipped)</span></p>`;
  return `<h2>Block masks</h2>${key}<div class="masks">${figures.join('\n')}</div>`;
}

function header(report: BenchReport): string {
  const devices = report.backends.map((b) => `<dt>${esc(b.name)}</dt><dd>${b.device ? esc(b.device) : '<i>device not reported</i>'}</dd>`);
  const unavailable = report.unavailable.map((u) => `<dt>${esc(u.name)}</dt><dd><b>not available</b><pre class="reason">${esc(u.reason)}</pre></dd>`);
  const peers = (report.peers ?? []).map((p) => `<dt>peer ${esc(p.name)}</dt><dd>${p.error ? `<b>not run</b><pre class="reason">${esc(p.error)}</pre>` : esc(p.info ?? '')}</dd>`);
  const bad = report.results.filter((r) => r.status !== 'ok');
  const failures = bad.length
    ? `<div class="failures"><h2>${bad.length} result(s) failed</h2><ul>${bad.map((r) => `<li><b>${esc(r.backend)}</b> on ${esc(r.case)}: <pre class="error">${esc(r.error ?? r.status)}</pre></li>`).join('')}</ul></div>`
    : '';
  return `<h1>flexattn benchmark</h1>
<p class="meta">${esc(report.date)} · commit ${esc(report.commit)} · suite ${esc(report.suite)} · pass ${esc(report.pass)} · Node ${esc(report.node)}</p>
<dl class="devices">${[...devices, ...unavailable, ...peers].join('')}</dl>${failures}`;
}

const STYLE = `body{font:13px system-ui,sans-serif;margin:24px;max-width:1180px;color:#111}
h2{margin:28px 0 8px}.meta{color:#444}.note{color:#555;font-size:12px}
dl.devices{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px}dl.devices dt{font-weight:bold}dl.devices dd{margin:0}
pre.reason,pre.error{margin:2px 0;white-space:pre-wrap;font:11px/1.35 monospace;color:#600}
.failures{border:2px solid #c00;background:#fff4f4;padding:4px 12px;margin:12px 0}
figure{margin:8px 0}svg.chart{max-width:100%;height:auto}svg.chart text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;fill:#111}
svg.chart .chart-title{font:bold 13px system-ui,sans-serif}svg.chart .group-label{font-size:12px}svg.chart .group-subtitle{font-size:10.5px;fill:#555}
svg.chart .value-label,svg.chart .reference-label{font-size:11px}svg.chart .reference-label{fill:#c00}
.key{white-space:nowrap;margin-right:10px}.key i{display:inline-block;width:10px;height:10px;margin:0 4px;vertical-align:-1px}.key i.empty{border:1px solid #888;width:8px;height:8px}
table.results{border-collapse:collapse}table.results td,table.results th{border:1px solid #ccc;padding:3px 6px;font-size:12px;vertical-align:top}
tr.failed td,tr.error td{background:#fdd}small{color:#555}
.masks{display:flex;flex-wrap:wrap;gap:16px}figure.mask{margin:0;width:210px}figure.mask figcaption{font-size:12px;margin-top:4px}`;

export function renderHtml(report: BenchReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexattn benchmark ${esc(report.date)}</title>
<style>${STYLE}</style></head>
<body>${header(report)}
${charts(report)}
<h2>All results</h2>${resultsTable(report)}
${masks(report)}
</body></html>`;
}
