/**
 * Reading a mod's JavaScript source: `fn.toString()` parsed with acorn into an ESTree function
 * node, and errors that point at a line and column of that source with the line quoted.
 *
 * Why acorn: it is the parser under ESLint/espree, webpack and Rollup — small (no dependencies,
 * ~100 kB), maintained, it follows the latest ECMAScript, and it gives the standard ESTree shape
 * with locations, which is all the lowering needs. A TypeScript-aware parser is not needed:
 * `fn.toString()` of compiled code is plain JavaScript.
 */
import { type ArrowFunctionExpression, type FunctionExpression, type Node, parse } from 'acorn';
import { TraceError } from '../errors';

export type FunctionNode = FunctionExpression | ArrowFunctionExpression;

export interface ParsedFunction {
  node: FunctionNode;
  /** The function's own source text (what locations refer to). */
  source: string;
  /** Characters the wrapper added before the source on its first line. */
  shift: number;
}

/**
 * Parses a function's source. `fn.toString()` gives an expression for arrows and function
 * expressions; object methods (`m(s) { … }`) need an object literal around them. Returns undefined
 * when the text is not parseable source (native or bound functions).
 */
export function parseFunctionSource(source: string): ParsedFunction | undefined {
  for (const [open, close] of [['(', ')'], ['({', '})']] as const) {
    let program;
    try {
      program = parse(`${open}${source}\n${close}`, { ecmaVersion: 'latest', locations: true });
    } catch {
      continue;
    }
    const stmt = program.body[0];
    if (program.body.length !== 1 || stmt?.type !== 'ExpressionStatement') continue;
    let e = stmt.expression as Node;
    if (e.type === 'ObjectExpression') {
      const props = (e as unknown as { properties: { value?: Node }[] }).properties;
      if (props.length !== 1 || !props[0]!.value) continue;
      e = props[0]!.value;
    }
    if (e.type === 'ArrowFunctionExpression' || e.type === 'FunctionExpression') return { node: e as FunctionNode, source, shift: open.length };
  }
  return undefined;
}

/** Line (1-based) and column (1-based) of a node in the function's own source. */
export function locate(parsed: ParsedFunction, node: Node): { line: number; column: number } {
  const start = node.loc!.start;
  return { line: start.line, column: (start.line === 1 ? start.column - parsed.shift : start.column) + 1 };
}

/** A TraceError at `node`: "<what>: line L, column C: <message>", the line quoted with a caret. */
export function errorAt(parsed: ParsedFunction, node: Node, what: string, message: string): TraceError {
  const { line, column } = locate(parsed, node);
  const text = parsed.source.split('\n')[line - 1] ?? '';
  const frame = `\n  ${text}\n  ${' '.repeat(Math.max(0, column - 1))}^`;
  return new TraceError(`${what}: line ${line}, column ${column}: ${message}${frame}`);
}

/** The source text of a node. */
export const textOf = (parsed: ParsedFunction, node: Node): string => {
  const offset = parsed.shift;
  return parsed.source.slice(node.start - offset, node.end - offset);
};
