/**
 * Silent miscompiles of the traced API, found in the mod's source before it runs. An Expr is an
 * object, so JavaScript's control flow cannot see its value: `cond ? a : b` and `if (cond)` always
 * take the first branch, `a && b` is always `b`, `!a` is always false and `a === b` compares
 * identities. Operators that convert to a number (`q >= kv`, `s + 1`) already throw; these do not.
 *
 * A small taint analysis marks what may be traced: the mod's parameters, names bound to traced
 * values, and results of calls that take traced values or are IR methods/functions. A hazard is one
 * of those constructs applied to a tainted value; the same constructs on plain trace-time values
 * (`approx ? x.tanhApprox() : x.tanh()` with a boolean option) are fine and are left alone.
 */
import type * as A from 'acorn';
import { Expr } from '../expr';
import { type ParsedFunction, locate, parseFunctionSource, textOf } from './source';

export interface Hazard {
  line: number;
  column: number;
  /** the offending source text */
  text: string;
  /** what goes wrong and what to write instead */
  why: string;
}

export interface SourceAnalysis {
  parsed: ParsedFunction;
  hazards: Hazard[];
  /** Names the function reads that it does not bind (its closure and globals). */
  freeNames: Set<string>;
}

/** Functions whose results are traced values. */
const IR_NAMES = new Set([
  ...Object.getOwnPropertyNames(Expr.prototype),
  'where', 'exp', 'exp2', 'log', 'log2', 'tanh', 'tanhApprox', 'sigmoid', 'sqrt', 'rsqrt', 'sin', 'cos', 'erf', 'sign', 'round',
  'abs', 'floor', 'ceil', 'neg', 'min', 'max', 'pow', 'clamp', 'and', 'or', 'not', 'toFloat', 'toInt', 'constant', 'at', 'expr',
]);
const GLOBALS = new Set(['Math', 'Infinity', 'NaN', 'undefined']);

const FIX: Record<string, string> = {
  ConditionalExpression: '`cond ? a : b` on a traced value always takes `a` (an Expr is always truthy): write where(cond, a, b)',
  IfStatement: '`if (cond)` on a traced value always takes the first branch: write where(cond, a, b)',
  '&&': '`a && b` on traced values is always `b`: write a.and(b)',
  '||': '`a || b` on traced values is always `a`: write a.or(b)',
  '??': '`a ?? b` on a traced value is always `a`',
  '!': '`!a` on a traced value is always false: write a.not()',
  '===': '`===` compares the identity of traced values, not their values: write a.eq(b)',
  '!==': '`!==` compares the identity of traced values, not their values: write a.ne(b)',
  loop: 'a loop condition on a traced value is always true',
  switch: '`switch` on a traced value compares identities',
};

type AnyNode = A.Node & Record<string, unknown>;

/** Finds the hazards of a function's source (undefined when it has no readable source). */
export function analyzeSource(source: string): SourceAnalysis | undefined {
  const parsed = parseFunctionSource(source);
  if (!parsed) return undefined;
  const tainted = new Set<string>();
  const bound = new Set<string>();
  const freeNames = new Set<string>();
  const hazards: Hazard[] = [];
  const report = (node: A.Node, key: string) => {
    const { line, column } = locate(parsed, node);
    hazards.push({ line, column, text: textOf(parsed, node), why: FIX[key]! });
  };

  const bindPattern = (p: A.Node, taint: boolean) => {
    if (p.type === 'Identifier') {
      const name = (p as A.Identifier).name;
      bound.add(name);
      if (taint) tainted.add(name);
    } else for (const child of children(p)) bindPattern(child, taint);
  };

  /** Is the expression possibly a traced value? (walks it, reporting hazards inside) */
  const visit = (node: A.Node | null | undefined): boolean => {
    if (!node) return false;
    const n = node as AnyNode;
    switch (node.type) {
      case 'Identifier': {
        const name = (node as A.Identifier).name;
        if (!bound.has(name) && !GLOBALS.has(name)) freeNames.add(name);
        return tainted.has(name);
      }
      case 'Literal': return false;
      case 'ConditionalExpression': {
        const e = node as A.ConditionalExpression;
        const t = visit(e.test);
        if (t) report(e, 'ConditionalExpression');
        const a = visit(e.consequent);
        const b = visit(e.alternate);
        return t || a || b;
      }
      case 'LogicalExpression': {
        const e = node as A.LogicalExpression;
        const l = visit(e.left);
        const r = visit(e.right);
        if (l) report(e, e.operator);
        return l || r;
      }
      case 'UnaryExpression': {
        const e = node as A.UnaryExpression;
        const t = visit(e.argument);
        if (t && e.operator === '!') report(e, '!');
        return t;
      }
      case 'BinaryExpression': {
        const e = node as A.BinaryExpression;
        const l = visit(e.left);
        const r = visit(e.right);
        if ((l || r) && (e.operator === '===' || e.operator === '==')) report(e, '===');
        if ((l || r) && (e.operator === '!==' || e.operator === '!=')) report(e, '!==');
        return l || r;
      }
      case 'MemberExpression': {
        const e = node as A.MemberExpression;
        const o = visit(e.object);
        const p = e.computed ? visit(e.property) : false;
        return o || p;
      }
      case 'CallExpression': case 'NewExpression': {
        const e = node as A.CallExpression;
        const callee = e.callee as A.Node;
        let t = visit(callee);
        for (const a of e.arguments) t = visit(a) || t;
        const member = callee.type === 'MemberExpression' ? (callee as A.MemberExpression) : undefined;
        // Math.max(…) of plain numbers is a plain number: only its arguments can taint it
        const onMath = member?.object.type === 'Identifier' && (member.object as A.Identifier).name === 'Math';
        const name = callee.type === 'Identifier' ? (callee as A.Identifier).name : member && !member.computed && !onMath ? (member.property as A.Identifier).name : undefined;
        return t || (name !== undefined && IR_NAMES.has(name));
      }
      case 'ArrowFunctionExpression': case 'FunctionExpression': case 'FunctionDeclaration': {
        // a helper defined inside the mod is called with traced values: its parameters are tainted
        const f = node as A.Function;
        if (node.type === 'FunctionDeclaration' && f.id) bound.add(f.id.name);
        for (const p of f.params) bindPattern(p, true);
        if (f.body.type === 'BlockStatement') statements((f.body as A.BlockStatement).body);
        else visit(f.body);
        return false;
      }
      case 'VariableDeclaration': {
        for (const d of (node as A.VariableDeclaration).declarations) bindPattern(d.id, visit(d.init));
        return false;
      }
      case 'AssignmentExpression': {
        const e = node as A.AssignmentExpression;
        const t = visit(e.right);
        if (e.left.type === 'Identifier' && t) tainted.add(e.left.name);
        else visit(e.left);
        return t;
      }
      case 'IfStatement': {
        const s = node as A.IfStatement;
        if (visit(s.test)) report(s, 'IfStatement');
        visit(s.consequent);
        visit(s.alternate);
        return false;
      }
      case 'WhileStatement': case 'DoWhileStatement': case 'ForStatement': {
        const s = node as A.WhileStatement | A.ForStatement;
        if ('init' in s) visit(s.init);
        if (visit(s.test)) report(s, 'loop');
        for (const c of children(node)) if (c !== s.test && c !== (s as A.ForStatement).init) visit(c);
        return false;
      }
      case 'SwitchStatement': {
        const s = node as A.SwitchStatement;
        if (visit(s.discriminant)) report(s, 'switch');
        for (const c of s.cases) visit(c);
        return false;
      }
      case 'BlockStatement': statements((node as A.BlockStatement).body); return false;
      default: {
        let t = false;
        for (const c of children(n)) t = visit(c) || t;
        return t;
      }
    }
  };
  const statements = (list: readonly A.Node[]) => {
    for (const s of list) visit(s);
  };

  const fn = parsed.node;
  for (const p of fn.params) bindPattern(p, true);
  if (fn.body.type === 'BlockStatement') statements(fn.body.body);
  else visit(fn.body);
  return { parsed, hazards, freeNames };
}

/** The child nodes of an ESTree node (every property holding a node or a list of nodes). */
function children(node: A.Node): A.Node[] {
  const out: A.Node[] = [];
  for (const [key, v] of Object.entries(node)) {
    if (key === 'loc' || key === 'range') continue;
    if (Array.isArray(v)) for (const x of v) if (x && typeof (x as A.Node).type === 'string') out.push(x as A.Node);
    if (v && typeof v === 'object' && typeof (v as A.Node).type === 'string') out.push(v as A.Node);
  }
  return out;
}
