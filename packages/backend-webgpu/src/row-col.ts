/**
 * The forward kernel's row/column split of the mods (the hook contract is in programs/hooks.ts,
 * PLAIN_ROW_COL): the ir's planHoist picks the maximal subexpressions of (b, h, q) and of
 * (b, h, kv); they become fields of per-row and per-column structs, computed once per query row
 * and once per key column per tile, and the `_rc` element functions read those fields instead of
 * recomputing them. Score and mask mods are planned apart (their captures are separate slot lists,
 * and the mask's parts are needed in partial tiles only).
 */
import { planHoist, renderCStyle, type CStyleDialect, type ModParam, type Node, type TracedMod } from '@flexattn/ir';

type DialectFor = (prefix: 's' | 'm', captures: readonly ModParam[]) => CStyleDialect;

const WGSL_TYPE = { f32: 'f32', i32: 'i32', bool: 'bool' } as const;
const indent = (lines: readonly string[]) => lines.map((l) => `  ${l}`);

interface Side {
  struct: string;
  fn: string;
  /** node → `<param>.f<i>` for the element functions */
  bound: [Node, string][];
}

/** One struct and its builder for the hoisted nodes of one side (row or column) of one mod. */
function side(struct: string, fnName: string, index: 'q' | 'kv', param: string, nodes: readonly Node[], dialect: CStyleDialect, prefix: string): Side {
  const sig = `fn ${fnName}(b: i32, h: i32, ${index}: i32) -> ${struct}`;
  if (!nodes.length) return { struct: `struct ${struct} { unused: u32 }`, fn: `${sig} { return ${struct}(0u); }`, bound: [] };
  const r = renderCStyle(nodes, dialect, prefix);
  return {
    struct: `struct ${struct} {\n${nodes.map((n, i) => `  f${i}: ${WGSL_TYPE[n.dtype as keyof typeof WGSL_TYPE]},`).join('\n')}\n}`,
    fn: `${sig} {\n${r.lines.join('\n')}\n  return ${struct}(${r.results.join(', ')});\n}`,
    bound: nodes.map((n, i) => [n, `${param}.f${i}`]),
  };
}

function element(sig: string, root: Node | undefined, fallback: string, bound: [Node, string][], dialect: CStyleDialect, prefix: string): string {
  if (!root) return `${sig} { return ${fallback}; }`;
  const r = renderCStyle([root], dialect, prefix, new Map(bound));
  return `${sig} {\n${indent(r.lines.map((l) => l.trimStart())).join('\n')}${r.lines.length ? '\n' : ''}  return ${r.results[0]};\n}`;
}

/** The rowCol hook text for a score mod and a mask mod (either may be absent). */
export function renderRowCol(scoreMod: TracedMod | undefined, maskMod: TracedMod | undefined, dialectFor: DialectFor): string {
  const sd = dialectFor('s', scoreMod?.captures ?? []);
  const md = dialectFor('m', maskMod?.captures ?? []);
  const sp = planHoist(scoreMod ? [scoreMod.root] : []);
  const mp = planHoist(maskMod ? [maskMod.root] : []);
  const rs = side('FlexRowS', 'flex_row_s', 'q', 'rs', sp.row, sd, 'rs');
  const rm = side('FlexRowM', 'flex_row_m', 'q', 'rm', mp.row, md, 'rm');
  const cs = side('FlexColS', 'flex_col_s', 'kv', 'cs', sp.col, sd, 'cs');
  const cm = side('FlexColM', 'flex_col_m', 'kv', 'cm', mp.col, md, 'cm');
  const score = element(
    'fn score_mod_rc(score: f32, b: i32, h: i32, q: i32, kv: i32, rs: FlexRowS, cs: FlexColS) -> f32',
    scoreMod?.root, 'score', [...rs.bound, ...cs.bound], sd, 'v',
  );
  const mask = element('fn mask_mod_rc(b: i32, h: i32, q: i32, kv: i32, rm: FlexRowM, cm: FlexColM) -> bool', maskMod?.root, 'true', [...rm.bound, ...cm.bound], md, 'w');
  return [rs.struct, rm.struct, cs.struct, cm.struct, rs.fn, rm.fn, cs.fn, cm.fn, score, mask].join('\n');
}
