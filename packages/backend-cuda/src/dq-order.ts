// The deterministic backward's dQ order (kernels/flex_bwd_fa3.cuh, FLEX_BWD_DETERMINISTIC): each
// q tile's dQ is the fp32 sum of one contribution per kv tile that visits it, and fp32 addition is
// not associative, so the sum is the same bits in every run only if the contributions are added in
// one fixed order. The order is the kernel's launch order — kv tiles descending (blockIdx.x
// ascending), which is what keeps a waiting CTA from waiting on one not yet resident — restricted to
// the kv tiles that actually visit the q tile (a block mask skips the others).
//
// Where a kv tile goes next matters as much: every kv tile walks its q tiles in ascending order,
// partial and full merged, so two kv tiles that share q tiles reach them in the same order, the
// later one about a step behind the earlier (a wavefront). The default body's order — partial tiles
// first, then full ones — sends a kv tile to the far edge of its band second (a document's last q
// tile, a sliding window's), where it waits for the kv tiles ahead of it in line to get there at the
// end of their walks. Measured on the H100 (session 16, fwd+bwd against the default backward): sliding
// window 4.6× → 1.00× (D64) and 11.7× → 1.07× (D128), document 1.57× → 1.36× and 1.67× → 1.25×.
import type { BlockTables } from '@flexattn/ir';

const memo = new WeakMap<BlockTables, Int32Array>();

/**
 * The order as the kernel reads it (args.dq_rank), laid out like the q-major lists the backward
 * walks ([B, H, kvTiles, qTiles] of the mask's planes), in two halves of one array. Entry j of kv
 * tile kt's row: in the first half its rank — how many kv tiles above kt visit that q tile — and in
 * the second the q tile itself (its j-th in ascending order; `~qt`, negative, for a full tile).
 * Memoised on the tables (ir's tileTables memoises those on the mask), so a repeated call computes
 * nothing.
 */
export function dqOrder(t: BlockTables): Int32Array {
  let order = memo.get(t);
  if (order === undefined) memo.set(t, (order = computeOrder(t)));
  return order;
}

/** A visit's q tile (a full one is stored as `~qt`). */
const tileOf = (v: number) => (v < 0 ? ~v : v);

/** The q tiles kv tile `row` visits, ascending, a full one as `~qt` (lists from user tables may come unsorted). */
function visitsOf(t: BlockTables, row: number): number[] {
  const at = row * t.qBlocks;
  const partial = Array.from(t.qIndices.subarray(at, at + t.qNumBlocks[row]!));
  const full = Array.from(t.fullQIndices.subarray(at, at + t.fullQNumBlocks[row]!), (qt) => ~qt);
  return [...partial, ...full].sort((x, y) => tileOf(x) - tileOf(y));
}

function computeOrder(t: BlockTables): Int32Array {
  const { B, H, qBlocks: qTiles, kvBlocks: kvTiles } = t;
  const entries = B * H * kvTiles * qTiles;
  const order = new Int32Array(2 * entries);
  const seen = new Int32Array(qTiles);  // per q tile: visitors counted so far in launch order
  for (let plane = 0; plane < B * H; plane++) {
    seen.fill(0);
    for (let kt = kvTiles - 1; kt >= 0; kt--) {
      const row = plane * kvTiles + kt;
      visitsOf(t, row).forEach((v, j) => {
        order[row * qTiles + j] = seen[tileOf(v)]!++;
        order[entries + row * qTiles + j] = v;
      });
    }
  }
  return order;
}
