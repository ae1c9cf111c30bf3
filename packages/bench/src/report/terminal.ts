/**
 * The terminal table: one row per case and backend, correctness first, then speed. Failures are red
 * where the terminal shows colour (picocolors: 7 kB, no dependencies, and it honours NO_COLOR and
 * FORCE_COLOR); colour is applied after padding, so columns stay aligned.
 */
import pc from 'picocolors';
import { peerText } from '../peer';
import type { BlockMaskResult, CaseResult } from '../runner';
import { formatNumber, formatRate, formatRelError, MISSING } from './format';

export type Colors = ReturnType<typeof pc.createColors>;
export const NO_COLORS: Colors = pc.createColors(false);

/** Colour chosen per cell, after padding: (row index, column index, padded text) → text. */
type CellStyle = (row: number, col: number, text: string) => string;

function table(header: string[], rows: string[][], style: CellStyle = (_r, _c, t) => t): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[], ri: number) => r.map((c, i) => (ri < 0 ? c.padEnd(widths[i]!) : style(ri, i, c.padEnd(widths[i]!)))).join('  ').trimEnd();
  return [line(header, -1), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const STATUS_COLUMN = 2;
const NOTES_COLUMN = 9;

export function renderTerminal(results: readonly CaseResult[], blockMasks: readonly BlockMaskResult[], colors: Colors = NO_COLORS): string {
  const rows = results.map((r) => [
    r.case,
    r.backend,
    r.status === 'ok' ? (r.verification ? `ok (${formatRelError(r.verification.maxRelError)})` : 'oracle') : r.status.toUpperCase(),
    formatNumber(r.fwd?.median),
    r.kind === 'decode' ? formatRate(r.gbps, 'GB/s') : formatRate(r.tflops, 'TFLOP/s'),
    formatNumber(r.fwdBwd?.median),
    formatRate(r.fwdBwdTflops, 'TFLOP/s'),
    r.speedupVsReference ? `${formatNumber(r.speedupVsReference)}×` : MISSING,
    peerText(r.peers, (x) => formatNumber(x)),
    (r.extrapolated ? 'extrapolated; ' : '') + (r.timer ?? '') + (r.error ? ` ${r.error.split('\n')[0]!.slice(0, 120)}` : ''),
  ]);
  const style: CellStyle = (ri, col, text) => {
    const failed = results[ri]!.status !== 'ok';
    if (failed && (col === STATUS_COLUMN || col === NOTES_COLUMN)) return colors.red(colors.bold(text));
    if (!failed && col === STATUS_COLUMN) return colors.green(text);
    return text;
  };
  const parts = [table(['case', 'backend', 'check (rel err)', 'fwd ms', 'fwd FLOP/s · GB/s', 'fwd+bwd ms', 'fwd+bwd FLOP/s', 'vs ref', 'peers: ms, peer/ours', 'notes'], rows, style)];
  if (blockMasks.length) {
    parts.push(
      table(
        ['createBlockMask', 'shape', 'median ms', 'p10–p90', 'sparsity %'],
        blockMasks.map((b) => [b.mod, b.shape, formatNumber(b.ms.median), `${formatNumber(b.ms.p10)}–${formatNumber(b.ms.p90)}`, b.sparsity.toFixed(1)]),
      ),
    );
  }
  return parts.join('\n\n');
}
