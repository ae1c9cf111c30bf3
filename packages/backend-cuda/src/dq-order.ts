// The deterministic backward's dQ order (kernels/flex_bwd_fa3.cuh, FLEX_BWD_DETERMINISTIC): each
// q tile's dQ is the fp32 sum of one contribution per kv tile that visits it, and fp32 addition is
// not associative, so the sum is the same bits in every run only if the contributions are added in
// one fixed order. The order is the kernel's launch order — kv tiles descending (blockIdx.x
// ascending), which is what keeps a waiting CTA from waiting on one not yet resident — restricted to
// the kv tiles that actually visit the q tile (a block mask skips the others). This table gives each
// entry of a kv tile's q-tile list its place in that order; the kernel's writer warp waits until
// the q tile's counter reaches it.
import type { BlockTables } from '@flexattn/ir';

const memo = new WeakMap<BlockTables, Int32Array>();

/**
 * Ranks laid out like the q-major lists the backward walks ([B, H, kvTiles, qTiles] of the mask's
 * planes): entry j of kv tile kt's list — its partial q tiles first, then its full ones, the
 * kernel's visiting order — holds how many kv tiles above kt also visit that q tile. Memoised on
 * the tables (ir's tileTables memoises those on the mask), so a repeated call computes nothing.
 */
export function dqOrderRanks(t: BlockTables): Int32Array {
  let ranks = memo.get(t);
  if (ranks === undefined) memo.set(t, (ranks = computeRanks(t)));
  return ranks;
}

function computeRanks(t: BlockTables): Int32Array {
  const { B, H, qBlocks: qTiles, kvBlocks: kvTiles, qNumBlocks, qIndices, fullQNumBlocks, fullQIndices } = t;
  const ranks = new Int32Array(qIndices.length);
  const seen = new Int32Array(qTiles);  // per q tile: visitors counted so far in launch order
  for (let plane = 0; plane < B * H; plane++) {
    seen.fill(0);
    for (let kt = kvTiles - 1; kt >= 0; kt--) {
      const row = plane * kvTiles + kt;
      const partial = qNumBlocks[row]!, full = fullQNumBlocks[row]!;
      for (let j = 0; j < partial + full; j++) {
        const qt = j < partial ? qIndices[row * qTiles + j]! : fullQIndices[row * qTiles + j - partial]!;
        ranks[row * qTiles + j] = seen[qt]!++;
      }
    }
  }
  return ranks;
}
