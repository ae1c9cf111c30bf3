/**
 * A BlockMask picture drawn to be seen: the text picture of `BlockMask.toString()` (█ full, ░ partial,
 * space empty; what the JSON report stores) becomes an SVG of fixed size, so a 2×2-block mask is as
 * large on the page as a 64×64 one.
 */
import { escapeHtml } from './escape';

export type BlockKind = 'full' | 'partial' | 'empty';

export interface MaskGrid {
  /** rows[qBlock][kvBlock] */
  rows: BlockKind[][];
  /** The picture stopped at toString()'s cap (96 blocks a side): more blocks exist than drawn. */
  truncated: boolean;
}

const KIND: Record<string, BlockKind> = { '█': 'full', '░': 'partial', ' ': 'empty' };
export const BLOCK_COLORS: Record<Exclude<BlockKind, 'empty'>, string> = { full: '#1f3f6e', partial: '#8fb8de' };

/** The first (b, h) panel of a BlockMask picture, as a grid of block kinds. */
export function parseMaskPicture(picture: string): MaskGrid {
  const rows: BlockKind[][] = [];
  let truncated = false;
  for (const line of picture.split('\n')) {
    if (line.startsWith('(b=') && rows.length) break; // the next (b, h) panel
    if (line.startsWith('…')) truncated = true;
    const m = /^\|(.*)\|(…?)$/.exec(line);
    if (!m) continue;
    if (m[2]) truncated = true;
    rows.push([...m[1]!].map((c) => KIND[c] ?? 'empty'));
  }
  return { rows, truncated };
}

/** The grid as an SVG `size` pixels on its longer side; runs of equal blocks in a row are one rect. */
export function maskSvg(grid: MaskGrid, size = 200, label = 'block mask'): string {
  const nRows = grid.rows.length;
  const nCols = Math.max(0, ...grid.rows.map((r) => r.length));
  const cell = size / Math.max(1, nRows, nCols);
  const [w, h] = [nCols * cell, nRows * cell];
  const rects: string[] = [];
  grid.rows.forEach((row, qb) => {
    for (let kb = 0; kb < row.length; ) {
      const kind = row[kb]!;
      let end = kb + 1;
      while (end < row.length && row[end] === kind) end++;
      if (kind !== 'empty') rects.push(`<rect x="${(kb * cell).toFixed(2)}" y="${(qb * cell).toFixed(2)}" width="${((end - kb) * cell).toFixed(2)}" height="${cell.toFixed(2)}" fill="${BLOCK_COLORS[kind]}"/>`);
      kb = end;
    }
  });
  // thin grid lines while blocks are large enough to count
  const lines: string[] = [];
  if (cell >= 6) {
    for (let i = 1; i < nCols; i++) lines.push(`<line x1="${(i * cell).toFixed(2)}" y1="0" x2="${(i * cell).toFixed(2)}" y2="${h.toFixed(2)}"/>`);
    for (let i = 1; i < nRows; i++) lines.push(`<line x1="0" y1="${(i * cell).toFixed(2)}" x2="${w.toFixed(2)}" y2="${(i * cell).toFixed(2)}"/>`);
  }
  return (
    `<svg class="mask-picture" role="img" aria-label="${escapeHtml(label)}" viewBox="0 0 ${w.toFixed(2)} ${h.toFixed(2)}" width="${w.toFixed(0)}" height="${h.toFixed(0)}" xmlns="http://www.w3.org/2000/svg">` +
    `<rect width="100%" height="100%" fill="#fff"/>${rects.join('')}<g stroke="#fff" stroke-width="0.6">${lines.join('')}</g>` +
    `<rect width="100%" height="100%" fill="none" stroke="#888" stroke-width="1"/></svg>`
  );
}
