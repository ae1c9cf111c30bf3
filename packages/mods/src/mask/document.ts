import { and, capture, type CapturedTensor, type Expr, type MaskMod } from '@flexattn/ir';
import { ModOptionError } from '../errors';
import { defineMaskMod, notAnExpr, type TunableMaskMod } from '../params';
import { batchShape, intArray, type IntList } from '../validate';

const MOD = 'documentMask';

/** Documents packed into one sequence, described by per-token ids, lengths or offsets. */
export type DocumentSpec =
  | IntList
  /** Per-token ids of B sequences: [B][L]. */
  | readonly (readonly number[] | Int32Array)[]
  /** Per-token ids; with `batch`, `batch` sequences back to back (shape [batch, L]). */
  | { ids: IntList; batch?: number; seqLen?: number }
  /** Consecutive document lengths (≥ 0) summing to L. */
  | { lengths: IntList; seqLen?: number }
  /** Document boundaries, cu_seqlens style: 0 = o₀ ≤ o₁ ≤ … ≤ oₙ = L. */
  | { offsets: IntList; seqLen?: number };

export type DocumentMask = TunableMaskMod<{ docIds: CapturedTensor; docStart: CapturedTensor }> & {
  /** Replaces the documents in place (same batch and length): same traced mod, same kernel. */
  setDocuments(spec: DocumentSpec): void;
};

const idsFromLengths = (lengths: Int32Array): Int32Array => {
  const total = lengths.reduce((a, b) => a + b, 0);
  const ids = new Int32Array(total);
  let pos = 0;
  lengths.forEach((len, doc) => ids.fill(doc, pos, (pos += len)));
  return ids;
};

function resolve(spec: DocumentSpec): { ids: Int32Array; shape: number[] } {
  notAnExpr(MOD, spec, 'docIds');
  if (Array.isArray(spec) && spec.length > 0 && (Array.isArray(spec[0]) || spec[0] instanceof Int32Array)) {
    const rows = spec as readonly (readonly number[] | Int32Array)[];
    const flat = rows.flatMap((r, b) => (Array.isArray(r) || r instanceof Int32Array ? Array.from(r) : intArray(MOD, `docIds[${b}]`, r)));
    const ids = intArray(MOD, 'docIds', flat);
    return { ids, shape: batchShape(MOD, 'docIds', ids.length, rows.length, rows[0]!.length) };
  }
  if (spec instanceof Int32Array || Array.isArray(spec)) {
    const ids = intArray(MOD, 'docIds', spec);
    return { ids, shape: [ids.length] };
  }
  if (typeof spec !== 'object' || spec === null) throw new ModOptionError(MOD, 'docIds', `must be ids, { ids }, { lengths } or { offsets }, got ${String(spec)}`);
  const s = spec as { ids?: IntList; batch?: number; lengths?: IntList; offsets?: IntList; seqLen?: number };
  let ids: Int32Array;
  if (s.ids !== undefined) {
    ids = intArray(MOD, 'docIds', s.ids);
    return { ids, shape: batchShape(MOD, 'docIds', ids.length, s.batch, s.seqLen) };
  } else if (s.lengths !== undefined) {
    ids = idsFromLengths(intArray(MOD, 'lengths', s.lengths, 0));
    if (ids.length === 0) throw new ModOptionError(MOD, 'lengths', 'must sum to at least 1 token');
  } else if (s.offsets !== undefined) {
    const off = intArray(MOD, 'offsets', s.offsets, 0);
    if (off.length < 2 || off[0] !== 0) throw new ModOptionError(MOD, 'offsets', `must start with 0 and end with the length L (cu_seqlens), got [${off.join(', ')}]`);
    for (let i = 1; i < off.length; i++) {
      if (off[i]! < off[i - 1]!) throw new ModOptionError(MOD, 'offsets', `must be sorted (non-decreasing); offsets[${i}] = ${off[i]} < offsets[${i - 1}] = ${off[i - 1]}`);
    }
    ids = idsFromLengths(off.subarray(1).map((o, i) => o - off[i]!));
    if (ids.length === 0) throw new ModOptionError(MOD, 'offsets', 'must span at least 1 token');
  } else throw new ModOptionError(MOD, 'docIds', 'an object spec needs one of ids, lengths or offsets');
  if (s.seqLen !== undefined && ids.length !== s.seqLen) {
    throw new ModOptionError(MOD, s.lengths !== undefined ? 'lengths' : 'offsets', `cover ${ids.length} tokens but seqLen is ${s.seqLen}`);
  }
  return { ids, shape: [ids.length] };
}

/** Per token, the position where its run of equal ids starts; checks runs are whole documents. */
function documentStarts(ids: Int32Array, L: number, requireContiguous: boolean): Int32Array {
  const start = new Int32Array(ids.length);
  for (let row = 0; row < ids.length; row += L) {
    const seen = new Set<number>();
    for (let i = 0; i < L; i++) {
      const id = ids[row + i]!;
      const newRun = i === 0 || id !== ids[row + i - 1];
      start[row + i] = newRun ? i : start[row + i - 1]!;
      if (newRun && requireContiguous) {
        if (seen.has(id)) throw new ModOptionError(MOD, 'docIds', `document ${id} appears in two separate runs (again at position ${i}${row ? ` of sequence ${row / L}` : ''}); with an inner mask each document must be contiguous`);
        seen.add(id);
      }
    }
  }
  return start;
}

/**
 * Document (packed-sequence) mask: tokens attend only within their own document,
 * `id[b, q] = id[b, kv] ∧ inner(b, h, q − start[b, q], kv − start[b, kv])`, where `start` is the
 * position of the token's document start, so `inner` (default: none) sees positions relative to
 * the document — `documentMask(ids, causal())` is causal within each document.
 *
 * Documents come as per-token ids (Int32Array of length L; `[[…], […]]` or `{ ids, batch }` for
 * [batch, L]),
 * `{ lengths }` or `{ offsets }` (cu_seqlens); `seqLen` checks the length. With an inner mask each
 * document must be one contiguous run. Both tables (`docIds`, `docStart`) are captured i32 tensors;
 * `setDocuments` swaps in a new packing of the same size without re-tracing. Indices past the
 * table read its last entry, so q and kv must index the same packed sequence (Lq = Lkv = L).
 * Sources: packed training as in "Efficient Sequence Packing without Cross-contamination"
 * (Krell et al., 2021), FlashAttention varlen; FlexAttention's document masking example.
 *
 * ```ts
 * const m = documentMask({ lengths: [100, 28] }, causal());   // two docs, causal inside each
 * m.setDocuments({ lengths: [64, 64] });
 * ```
 */
export function documentMask(docs: DocumentSpec, inner?: MaskMod): DocumentMask {
  notAnExpr(MOD, docs, 'docIds');
  if (inner !== undefined && typeof inner !== 'function') throw new ModOptionError(MOD, 'inner', `must be a mask mod (a function), got ${typeof inner}`);
  const { ids, shape } = resolve(docs);
  const L = shape[shape.length - 1]!;
  const docIds = capture(ids, shape, { name: `${MOD}.docIds` });
  const docStart = capture(documentStarts(ids, L, inner !== undefined), shape, { name: `${MOD}.docStart` });
  const at = (t: CapturedTensor, b: Expr, i: Expr): Expr => (shape.length === 2 ? t.at(b, i) : t.at(i));
  const mod = defineMaskMod(
    MOD,
    (b, h, q, kv) => {
      const same = at(docIds, b, q).eq(at(docIds, b, kv));
      return inner ? and(same, inner(b, h, q.sub(at(docStart, b, q)), kv.sub(at(docStart, b, kv)))) : same;
    },
    { docIds, docStart },
  );
  return Object.assign(mod, {
    setDocuments(spec: DocumentSpec): void {
      const next = resolve(spec);
      if (next.shape.join() !== shape.join()) throw new ModOptionError(MOD, 'docIds', `must keep the shape [${shape.join(', ')}], got [${next.shape.join(', ')}]`);
      const starts = documentStarts(next.ids, L, inner !== undefined);
      docIds.data.set(next.ids);
      docStart.data.set(starts);
      docIds.invalidate();
      docStart.invalidate();
    },
  });
}
