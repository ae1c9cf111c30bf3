/** The terminal table: one row per case and backend, correctness first, then speed. */
import { peerText } from '../peer';
import type { BlockMaskResult, CaseResult } from '../runner';

const fmt = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? '—' : x >= 100 ? x.toFixed(1) : x.toPrecision(digits));

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderTerminal(results: readonly CaseResult[], blockMasks: readonly BlockMaskResult[]): string {
  const rows = results.map((r) => [
    r.case,
    r.backend,
    r.status === 'ok' ? (r.verification ? `ok (${r.verification.maxRelError.toExponential(1)})` : 'oracle') : r.status.toUpperCase(),
    fmt(r.fwd?.median),
    r.kind === 'decode' ? `${fmt(r.gbps)} GB/s` : `${fmt(r.tflops)}`,
    fmt(r.fwdBwd?.median),
    fmt(r.fwdBwdTflops),
    r.speedupVsReference ? `${fmt(r.speedupVsReference)}×` : '—',
    peerText(r.peers, fmt),
    (r.extrapolated ? 'extrapolated; ' : '') + (r.timer ?? '') + (r.error ? ` ${r.error.split('\n')[0]!.slice(0, 120)}` : ''),
  ]);
  const parts = [table(['case', 'backend', 'check (rel err)', 'fwd ms', 'TFLOP/s', 'fwd+bwd ms', 'TFLOP/s', 'vs ref', 'peers: ms, peer/ours', 'notes'], rows)];
  if (blockMasks.length) {
    parts.push(
      table(
        ['createBlockMask', 'shape', 'median ms', 'p10–p90', 'sparsity %'],
        blockMasks.map((b) => [b.mod, b.shape, fmt(b.ms.median), `${fmt(b.ms.p10)}–${fmt(b.ms.p90)}`, b.sparsity.toFixed(1)]),
      ),
    );
  }
  return parts.join('\n\n');
}
