// A BlockMask as a picture: one square per block of batch 0, head 0 — full dark, partial light,
// empty white — at a size that can be seen whatever the number of blocks.
import type { BlockMask } from '@flexattn/ir';

const COLOURS = ['#ffffff', '#9ecae1', '#08519c']; // empty, partial, full (toDense's 0, 1, 2)

export function drawBlockMask(canvas: HTMLCanvasElement, mask: BlockMask, sizePx = 256): void {
  const dense = mask.toDense();
  const qBlocks = mask.kvNumBlocks.length / (mask.B * mask.H);
  const kvBlocks = dense.length / (mask.B * mask.H * qBlocks);
  const cell = Math.max(1, Math.floor(sizePx / Math.max(qBlocks, kvBlocks)));
  canvas.width = cell * kvBlocks;
  canvas.height = cell * qBlocks;
  const ctx = canvas.getContext('2d')!;
  for (let i = 0; i < qBlocks; i++) {
    for (let j = 0; j < kvBlocks; j++) {
      ctx.fillStyle = COLOURS[dense[i * kvBlocks + j]!]!;
      ctx.fillRect(j * cell, i * cell, cell, cell);
    }
  }
  if (cell >= 6) {
    ctx.strokeStyle = '#d0d0d0';
    ctx.strokeRect(0.5, 0.5, canvas.width - 1, canvas.height - 1);
  }
}
