/**
 * The HTML report: self-contained (inline SVG charts, no scripts or external assets), with TFLOP/s
 * per mod and backend, speed-ups over the reference and the peers, and each mask's BlockMask picture.
 * Every text that comes from data is escaped.
 */
import { peerText } from '../peer';
import type { BenchReport } from './json';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2'];

interface Bar {
  group: string;
  series: string;
  value: number;
}

/** A grouped horizontal bar chart as inline SVG. */
export function barChart(title: string, unit: string, bars: readonly Bar[]): string {
  const groups = [...new Set(bars.map((b) => b.group))];
  const series = [...new Set(bars.map((b) => b.series))];
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const barH = 14;
  const groupH = series.length * barH + 10;
  const left = 260;
  const width = 820;
  const height = groups.length * groupH + 40;
  const parts = [`<svg class="chart" role="img" aria-label="${esc(title)}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">`];
  parts.push(`<text x="4" y="14" font-weight="bold">${esc(title)}</text>`);
  groups.forEach((g, gi) => {
    const y0 = 24 + gi * groupH;
    parts.push(`<text x="4" y="${y0 + groupH / 2}" font-size="11">${esc(g)}</text>`);
    series.forEach((s, si) => {
      const b = bars.find((x) => x.group === g && x.series === s);
      if (!b) return;
      const w = Math.max(1, ((width - left - 90) * b.value) / max);
      const y = y0 + si * barH;
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s}: ${b.value.toPrecision(4)} ${unit}`)}</title></rect>`);
      parts.push(`<text x="${left + w + 4}" y="${y + barH - 4}" font-size="10">${esc(b.value.toPrecision(3))}</text>`);
    });
  });
  parts.push('</svg>');
  const legend = series.map((s, i) => `<span class="key"><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s)}</span>`).join(' ');
  return `<figure>${parts.join('')}<figcaption>${legend} (${esc(unit)})</figcaption></figure>`;
}

export function renderHtml(report: BenchReport): string {
  const ok = report.results.filter((r) => r.status === 'ok');
  const tflopBars = ok.filter((r) => r.kind === 'attention' && r.tflops).map((r) => ({ group: `${r.mod} ${r.shape} ${r.dtype}`, series: r.backend, value: r.tflops! }));
  const peerBars = ok.flatMap((r) =>
    (r.peers ?? []).flatMap((p) => [
      ...(p.fwdRatio ? [{ group: `${r.mod} ${r.shape}`, series: `${r.backend} vs ${p.name}, forward`, value: p.fwdRatio }] : []),
      ...(p.fwdBwdRatio ? [{ group: `${r.mod} ${r.shape}`, series: `${r.backend} vs ${p.name}, fwd+bwd`, value: p.fwdBwdRatio }] : []),
    ]),
  );
  const num = (x: number | undefined) => (x === undefined ? '—' : x.toPrecision(4));
  const peerCell = (r: BenchReport['results'][number]) =>
    r.peers?.length ? r.peers.map((p) => `${esc(peerText([p], num, 300))}${p.note ? ` <small>(${esc(p.note)})</small>` : ''}`).join('<br>') : '—';
  const speedBars = ok.filter((r) => r.speedupVsReference).map((r) => ({ group: `${r.mod} ${r.shape}`, series: r.backend, value: r.speedupVsReference! }));
  const decodeBars = ok.filter((r) => r.gbps).map((r) => ({ group: `${r.shape} ${r.dtype}`, series: r.backend, value: r.gbps! }));
  const rows = report.results
    .map((r) => `<tr class="${r.status}"><td>${esc(r.case)}</td><td>${esc(r.backend)}</td><td>${esc(r.status)}${r.verification ? ` (${r.verification.maxRelError.toExponential(1)})` : ''}</td><td>${r.fwd ? r.fwd.median.toPrecision(4) : '—'}</td><td>${r.tflops ? r.tflops.toPrecision(3) : '—'}</td><td>${r.fwdBwd ? r.fwdBwd.median.toPrecision(4) : '—'}</td><td>${r.gbps ? r.gbps.toPrecision(4) : '—'}</td><td>${peerCell(r)}</td><td>${esc(r.error ?? '')}</td></tr>`)
    .join('\n');
  const masks = report.blockMasks.map((b) => `<section class="mask"><h3>${esc(b.mod)} — ${esc(b.shape)}: ${b.ms.median.toPrecision(3)} ms, ${b.sparsity.toFixed(1)}% sparse</h3><pre>${esc(b.picture)}</pre></section>`).join('\n');
  const peers = (report.peers ?? []).map((p) => `<li>peer ${esc(p.name)}: ${esc(p.error ? `not run — ${p.error}` : (p.info ?? ''))}</li>`).join('');
  const unavailable = report.unavailable.map((u) => `<li>${esc(u.name)}: ${esc(u.reason)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexattn benchmark ${esc(report.date)}</title>
<style>body{font:13px system-ui,sans-serif;margin:24px;max-width:1100px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px}
tr.failed td,tr.error td{background:#fdd}.key i{display:inline-block;width:10px;height:10px;margin:0 4px}pre{font:9px/9px monospace}</style></head>
<body><h1>flexattn benchmark</h1>
<p>${esc(report.date)} · commit ${esc(report.commit)} · suite ${esc(report.suite)} · pass ${esc(report.pass)} · Node ${esc(report.node)}</p>
<ul>${report.backends.map((b) => `<li>${esc(b.name)}: ${esc(b.device ?? '')}</li>`).join('')}${unavailable}${peers}</ul>
<h2>Useful TFLOP/s (forward)</h2>${tflopBars.length ? barChart('Forward TFLOP/s per mod and backend', 'TFLOP/s', tflopBars) : '<p>none</p>'}
${decodeBars.length ? `<h2>Decoding</h2>${barChart('K+V read bandwidth', 'GB/s', decodeBars)}` : ''}
<h2>Speed-up over the float64 reference</h2>${speedBars.length ? barChart('Speed-up over the reference', '×', speedBars) : '<p>none</p>'}
${peerBars.length ? `<h2>Ratio to the peers (peer time / our time; above 1 = faster)</h2>${barChart('Speed ratio to the peer', '×', peerBars)}` : ''}
<h2>All results</h2><table><tr><th>case</th><th>backend</th><th>check</th><th>fwd ms</th><th>TFLOP/s</th><th>fwd+bwd ms</th><th>GB/s</th><th>peers</th><th>error</th></tr>
${rows}</table>
<h2>Block masks</h2>${masks || '<p>none</p>'}
</body></html>`;
}
