/**
 * The executable meaning of the IR: `evaluate` (an interpreter) and `compileToJs` (the graph
 * rendered to one JS function). Both are built from the op templates in semantics.ts. Generated
 * source is made from the IR alone — op templates, numeric literals and slot numbers — so nothing a
 * user wrote (names, strings) ever enters it.
 */
import { OptionError, TraceError } from './errors';
import type { LoadArg, Node, ScalarArg } from './node';
import { topoOrder } from './node';
import type { ArgName } from './ops';
import { CapturedTensor, type ModParam, type Scalar } from './params';
import { jsHelpers, jsLiteral, jsTemplate, opFunction } from './semantics';
import { TracedMod } from './trace';
import { checkGraphParams } from './trace-check';

export type Value = number | boolean;
export interface ModArgs {
  score?: number;
  b: number;
  h: number;
  q: number;
  kv: number;
}

/**
 * Evaluates a graph for one (score, b, h, q, kv) point. `known` gives values of some nodes up front
 * (they and what lies below them are not evaluated): the meaning of a graph whose hoisted parts
 * were computed elsewhere.
 */
export function evaluateNode(root: Node, captures: readonly ModParam[], args: ModArgs, known?: ReadonlyMap<Node, Value>): Value {
  const values = new Map<Node, Value>(known);
  for (const n of topoOrder([root], known)) {
    if (known?.has(n)) continue;
    let v: Value;
    switch (n.op) {
      case 'const':
        v = n.arg as Value;
        break;
      case 'arg': {
        const a = args[n.arg as ArgName];
        if (a === undefined) throw new OptionError(`evaluate: missing argument '${String(n.arg)}'`);
        v = a;
        break;
      }
      case 'scalar':
        v = (captures[(n.arg as ScalarArg).slot] as Scalar).value;
        break;
      case 'load': {
        const t = captures[(n.arg as LoadArg).slot] as CapturedTensor;
        v = t.data[t.flatIndex(n.src.map((s) => values.get(s) as number))]!;
        break;
      }
      default:
        v = opFunction(n.op, n.dtype, n.src[0]!.dtype)(...n.src.map((s) => values.get(s)!));
    }
    values.set(n, v);
  }
  return values.get(root)!;
}

export function evaluate(mod: TracedMod, args: ModArgs): Value {
  return evaluateNode(mod.root, mod.captures, args);
}

/** JS source for the body of a function computing `roots`; returns statements and result names. */
export function renderJsBody(roots: readonly Node[], captures: readonly ModParam[]): { lines: string[]; results: string[] } {
  checkGraphParams(roots, captures);
  const names = new Map<Node, string>();
  const lines: string[] = [];
  captures.forEach((c, slot) => {
    lines.push(c instanceof CapturedTensor ? `const c${slot} = caps[${slot}].data;` : `const s${slot} = caps[${slot}].value;`);
  });
  for (const n of topoOrder(roots)) {
    let expr: string;
    switch (n.op) {
      case 'const':
        expr = jsLiteral(n.arg as Value);
        break;
      case 'arg':
        names.set(n, n.arg as ArgName);
        continue;
      case 'scalar':
        names.set(n, `s${(n.arg as ScalarArg).slot}`);
        continue;
      case 'load': {
        const { slot } = n.arg as LoadArg;
        const t = captures[slot] as CapturedTensor;
        const terms = n.src.map((s, i) => {
          const x = names.get(s)!;
          const d = t.shape[i]!;
          return `(${x} < 0 ? 0 : ${x} >= ${d} ? ${d - 1} : ${x}) * ${t.strides[i]}`;
        });
        expr = `c${slot}[${terms.join(' + ')}]`;
        break;
      }
      default:
        expr = jsTemplate(n.op, n.dtype, n.src[0]!.dtype)(...n.src.map((s) => names.get(s)!));
    }
    const name = `v${names.size}`;
    names.set(n, name);
    lines.push(`const ${name} = ${expr};`);
  }
  return { lines, results: roots.map((r) => names.get(r)!) };
}

export type CompiledMod = (...args: number[]) => Value;

const ARG_NAMES: readonly string[] = ['score', 'b', 'h', 'q', 'kv'];

/** The parameter list is pasted into the function's source: hook argument names only, each once. */
function checkParamNames(params: readonly ArgName[]): void {
  if (!Array.isArray(params) || params.some((p) => !ARG_NAMES.includes(p)) || new Set(params).size !== params.length) {
    throw new TraceError(`compileNodeToJs: parameters are distinct names among ${ARG_NAMES.join(', ')}`);
  }
}

/** Compiles a graph to a JS function of the given parameters. */
export function compileNodeToJs(root: Node, captures: readonly ModParam[], params: readonly ArgName[]): CompiledMod {
  checkParamNames(params);
  const { lines, results } = renderJsBody([root], captures);
  const source = `"use strict";\nreturn function flexMod(${params.join(', ')}) {\n  ${lines.join('\n  ')}\n  return ${results[0]};\n};`;
  return new Function('caps', '$h', source)(captures, jsHelpers) as CompiledMod;
}

/** Score mods compile to (score, b, h, q, kv) => number, masks to (b, h, q, kv) => boolean. */
export function compileToJs(mod: TracedMod): CompiledMod {
  if (!TracedMod.isTracedMod(mod)) throw new TraceError('compileToJs needs a mod from traceScoreMod / traceMaskMod');
  const params: ArgName[] = mod.kind === 'score' ? ['score', 'b', 'h', 'q', 'kv'] : ['b', 'h', 'q', 'kv'];
  return compileNodeToJs(mod.root, mod.captures, params);
}
