import { describe, expect, it } from 'vitest';
import { blockMaskByEvaluation, createMask, TableBlockMask } from './block-mask';
import { EMPTY, FULL, PARTIAL, tablesFromClasses } from './block-tables';
import { ShapeError } from './errors';
import { traceMaskMod } from './trace';

const mod = traceMaskMod((_b, _h, q, kv) => q.ge(kv));

describe('BlockMask', () => {
  it('blockMaskByEvaluation classifies blocks by their elements, and createMask is the element mask', () => {
    const m = blockMaskByEvaluation(mod, { qLen: 10, kvLen: 10, blockSize: 4 });
    // Blocks of 4 over 10: rows [0,4) [4,8) [8,10). Causal: diagonal partial, below full, above empty.
    expect(Array.from(m.toDense())).toEqual([PARTIAL, EMPTY, EMPTY, FULL, PARTIAL, EMPTY, FULL, FULL, PARTIAL]);
    expect(m.sparsity()).toBeCloseTo((100 * 3) / 9, 12);
    const e = createMask(mod, { qLen: 3, kvLen: 4 });
    expect(Array.from(e)).toEqual([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0]);
    expect(() => TableBlockMask.fromDense(new Uint8Array(3), { B: 1, H: 1, qLen: 10, kvLen: 10, blockSize: [4, 4] }, mod)).toThrow(ShapeError);
  });

  it('toString draws █ full, ░ partial, space empty', () => {
    const m = TableBlockMask.fromDense(Uint8Array.from([FULL, PARTIAL, EMPTY, EMPTY, FULL, PARTIAL]), { B: 1, H: 1, qLen: 4, kvLen: 6, blockSize: [2, 2] }, mod);
    const lines = m.toString().split('\n');
    expect(lines[0]).toMatch(/^BlockMask 4×6 in 2×2 blocks, B=1 H=1, sparsity 33\.33%$/);
    expect(lines.slice(1)).toEqual(['|█░ |', '| █░|']);
    const two = TableBlockMask.fromDense(Uint8Array.from([FULL, EMPTY]), { B: 1, H: 2, qLen: 1, kvLen: 1, blockSize: [1, 1] }, mod);
    expect(two.toString().split('\n').slice(1)).toEqual(['(b=0, h=0)', '|█|', '(b=0, h=1)', '| |']);
  });

  it('given the kv-major view alone, builds the q-major one (the transpose, as tablesFromClasses writes it); refuses a grid without tables', () => {
    // two planes of 3 × 4 blocks, every class somewhere
    const classes = Uint8Array.from([FULL, PARTIAL, EMPTY, FULL, EMPTY, EMPTY, PARTIAL, PARTIAL, FULL, FULL, FULL, EMPTY, PARTIAL, EMPTY, EMPTY, FULL, EMPTY, FULL, FULL, PARTIAL, EMPTY, EMPTY, EMPTY, EMPTY]);
    const full = tablesFromClasses(classes, 1, 2, 3, 4);
    const { B, H, qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices } = full;
    const shape = { B: 1, H: 2, qLen: 6, kvLen: 8, blockSize: [2, 2] as [number, number] };
    const m = new TableBlockMask({ B, H, qBlocks, kvBlocks, kvNumBlocks, kvIndices, fullKvNumBlocks, fullKvIndices }, shape, mod);
    for (const view of ['qNumBlocks', 'qIndices', 'fullQNumBlocks', 'fullQIndices'] as const) expect(Array.from(m[view])).toEqual(Array.from(full[view]));
    expect(() => new TableBlockMask({ B, H, qBlocks, kvBlocks }, shape, mod)).toThrow(ShapeError);
  });
});
