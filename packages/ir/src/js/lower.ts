/**
 * Lowering a parsed JavaScript mod to the IR by evaluating its syntax tree over Exprs: every operator
 * on a traced value calls the same smart constructor as the matching Expr method (`a + b` is
 * `a.add(b)`, `c ? a : b` is `where(c, a, b)`, `if/else` with returns nests `where`s), so a mod
 * written with operators has the same IR and hash as its method-chain form.
 *
 * Values are traced (Expr, Scalar) or plain (numbers, booleans): operators on plain values compute
 * in JavaScript at trace time, exactly as they would in a traced mod. On traced values operators
 * have the IR's meaning: `%` is floored (Python's, like `.mod`), integers wrap at 32 bits, `/` is
 * true division. Anything else — loops, `this`, assignments, unknown calls — is a TraceError at the
 * line and column it appears.
 */
import type * as A from 'acorn';
import * as build from '../build';
import type { Operand } from '../build';
import { Expr, wrap } from '../expr';
import * as freeFns from '../expr';
import { FlexAttnError } from '../errors';
import { Node } from '../node';
import { CapturedTensor, Scalar } from '../params';
import { errorAt, type ParsedFunction, textOf } from './source';

/** A tensor read by indexing (`t[i][j]`): indices so far; loads when all of them are given. */
class TensorIndex {
  constructor(
    readonly tensor: CapturedTensor,
    readonly indices: readonly Operand[],
  ) {}
}
/** The `Math` namespace, and IR free functions passed in the free variables. */
const MATH = Symbol('Math');
type IrFunction = (...args: Operand[]) => Expr;
type Value = Operand | CapturedTensor | TensorIndex | typeof MATH | { fn: IrFunction };

/** The IR functions a mod may call when they are passed in the free variables (`{ where, erf }`). */
export const IR_FUNCTIONS: ReadonlySet<unknown> = new Set(
  Object.values(freeFns).filter((f) => typeof f === 'function' && f !== Expr && f !== wrap),
);

/** Math.* functions with IR ops (Math.round is not one: it rounds ties toward +∞, GPUs to even). */
const MATH_FUNCTIONS: Record<string, (...a: Operand[]) => Operand> = {
  exp: (x) => build.math('exp', x),
  log: (x) => build.math('log', x),
  log2: (x) => build.math('log2', x),
  tanh: (x) => build.math('tanh', x),
  sqrt: (x) => build.math('sqrt', x),
  sin: (x) => build.math('sin', x),
  cos: (x) => build.math('cos', x),
  abs: (x) => build.unaryArith('abs', x),
  sign: (x) => build.unaryArith('sign', x),
  floor: (x) => build.unaryArith('floor', x),
  ceil: (x) => build.unaryArith('ceil', x),
  pow: (a, b) => build.binaryArith('pow', a, b),
};
const MATH_CONSTANTS: Record<string, number> = {
  PI: Math.PI, E: Math.E, LN2: Math.LN2, LN10: Math.LN10, LOG2E: Math.LOG2E, LOG10E: Math.LOG10E, SQRT2: Math.SQRT2, SQRT1_2: Math.SQRT1_2,
};
const NOT_SUPPORTED_MATH: Record<string, string> = {
  round: 'Math.round rounds ties toward +∞, which no GPU does; use round(x) from @flexattn/ir (ties to even), passed in the free variables',
  trunc: 'the IR has no float trunc; x.toInt() truncates to an integer',
};

const BINARY: Partial<Record<A.BinaryOperator, (a: Operand, b: Operand) => Operand>> = {
  '+': (a, b) => build.binaryArith('add', a, b),
  '-': (a, b) => build.binaryArith('sub', a, b),
  '*': (a, b) => build.binaryArith('mul', a, b),
  '/': (a, b) => build.binaryArith('div', a, b),
  '%': (a, b) => build.binaryArith('mod', a, b),
  '**': (a, b) => build.binaryArith('pow', a, b),
  '<': (a, b) => build.compare('lt', a, b),
  '<=': (a, b) => build.compare('le', a, b),
  '>': (a, b) => build.compare('gt', a, b),
  '>=': (a, b) => build.compare('ge', a, b),
  '===': (a, b) => build.compare('eq', a, b),
  '==': (a, b) => build.compare('eq', a, b),
  '!==': (a, b) => build.compare('ne', a, b),
  '!=': (a, b) => build.compare('ne', a, b),
};
/** The same operators on plain values: JavaScript's own meaning, as in a traced mod. */
const PLAIN: Partial<Record<A.BinaryOperator, (a: number, b: number) => number | boolean>> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => a / b, '%': (a, b) => a % b, '**': (a, b) => a ** b,
  '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
  '===': (a, b) => a === b, '==': (a, b) => a === b, '!==': (a, b) => a !== b, '!=': (a, b) => a !== b,
};

const isPlain = (v: Value): v is number | boolean => typeof v === 'number' || typeof v === 'boolean';
const toExpr = (v: Operand): Expr => (v instanceof Expr ? v : wrap(build.lift(v)));

type Env = ReadonlyMap<string, Value>;
/** Statements still to run after a block (the continuation of an if's branch). */
interface Frame {
  stmts: readonly A.Statement[];
  env: Env;
}

export class Lowering {
  constructor(
    private readonly parsed: ParsedFunction,
    private readonly what: string,
  ) {}

  private fail(node: A.Node, message: string): never {
    throw errorAt(this.parsed, node, this.what, message);
  }

  /** Runs `f`, turning an IR error (a dtype rule, a bad index) into one at `node`. */
  private at<T>(node: A.Node, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof FlexAttnError && !/: line \d+, column \d+: /.test(e.message)) this.fail(node, `${textOf(this.parsed, node)}: ${e.message}`);
      throw e;
    }
  }

  /** The mod's result for the given parameter values. */
  run(env: Env): Operand {
    const body = this.parsed.node.body;
    const r = body.type !== 'BlockStatement' ? this.operand(body, env) : this.block(body.body, env, []);
    return r instanceof Node ? wrap(r) : r;
  }

  private block(stmts: readonly A.Statement[], env: Env, rest: readonly Frame[]): Operand {
    if (stmts.length === 0) {
      const [next, ...outer] = rest;
      if (!next) this.fail(this.parsed.node, 'a path through the mod ends without a return; every branch must return a value');
      return this.block(next.stmts, next.env, outer);
    }
    const [s, ...tail] = stmts as [A.Statement, ...A.Statement[]];
    switch (s.type) {
      case 'ReturnStatement':
        if (!s.argument) this.fail(s, 'return needs a value');
        return this.operand(s.argument, env);
      case 'VariableDeclaration': {
        if (s.kind !== 'const') this.fail(s, `use const: a mod has no mutable state (${s.kind} could be reassigned)`);
        const inner = new Map(env);
        for (const d of s.declarations) {
          if (d.id.type !== 'Identifier') this.fail(d.id, 'destructuring is not supported; bind one name per const');
          if (!d.init) this.fail(d, 'const needs a value');
          inner.set(d.id.name, this.value(d.init, inner));
        }
        return this.block(tail, inner, rest);
      }
      case 'IfStatement': {
        const test = this.value(s.test, env);
        const after: Frame[] = [{ stmts: tail, env }, ...rest];
        const then = () => this.block([s.consequent], env, after);
        const otherwise = () => (s.alternate ? this.block([s.alternate], env, after) : this.block(tail, env, rest));
        if (isPlain(test)) return test ? then() : otherwise(); // a trace-time constant picks the branch
        return this.at(s.test, () => build.where(this.asOperand(s.test, test), then(), otherwise()));
      }
      case 'BlockStatement':
        return this.block(s.body, new Map(env), [{ stmts: tail, env }, ...rest]);
      case 'EmptyStatement':
        return this.block(tail, env, rest);
      case 'ExpressionStatement':
        if (s.directive) return this.block(tail, env, rest); // 'use strict'
        if (s.expression.type === 'AssignmentExpression' || s.expression.type === 'UpdateExpression') {
          this.fail(s, 'assignments are not supported: a mod is a pure function of its arguments (bind new values with const)');
        }
        return this.fail(s, 'a statement without effect: a mod only computes and returns a value');
      case 'ForStatement': case 'ForInStatement': case 'ForOfStatement': case 'WhileStatement': case 'DoWhileStatement':
        return this.fail(s, 'loops are not supported in a mod (the kernel evaluates it per element): unroll it, or tabulate the values in a captured tensor');
      case 'FunctionDeclaration':
        return this.fail(s, 'functions inside a mod are not supported; compute with expressions and const');
      default:
        return this.fail(s, `${s.type} is not supported in a mod`);
    }
  }

  /** A value usable as an operand (not a partly indexed tensor or a namespace). */
  private operand(node: A.Expression, env: Env): Operand {
    return this.asOperand(node, this.value(node, env));
  }

  private asOperand(node: A.Node, v: Value): Operand {
    if (v instanceof CapturedTensor) v = new TensorIndex(v, []);
    if (v instanceof TensorIndex) {
      this.fail(node, `${v.tensor.name} has rank ${v.tensor.shape.length} but ${v.indices.length} index(es) were given: index it as ${v.tensor.name}${'[i]'.repeat(v.tensor.shape.length)}`);
    }
    if (v === MATH || (typeof v === 'object' && 'fn' in v)) this.fail(node, `${textOf(this.parsed, node)} is a function, not a value`);
    return v as Operand;
  }

  /** The value of an expression; IR nodes come back as Exprs (so their methods can be called). */
  private value(node: A.Expression | A.PrivateIdentifier | A.Super | A.SpreadElement, env: Env): Value {
    const v = this.evaluate(node, env);
    return v instanceof Node ? wrap(v) : v;
  }

  private evaluate(node: A.Expression | A.PrivateIdentifier | A.Super | A.SpreadElement, env: Env): Value {
    switch (node.type) {
      case 'Literal':
        if (typeof node.value === 'number' || typeof node.value === 'boolean') return node.value;
        return this.fail(node, 'only number and boolean literals are supported in a mod');
      case 'Identifier': {
        const v = env.get(node.name);
        if (v !== undefined) return v;
        if (node.name === 'Math') return MATH;
        if (node.name === 'Infinity') return Infinity;
        if (node.name === 'NaN') return NaN;
        return this.fail(node, `unknown name '${node.name}': pass it in the free variables, jsMod(fn, { ${node.name} }) (captured tensors, scalars, numbers, booleans, IR functions)`);
      }
      case 'BinaryExpression': {
        const a = this.operand(node.left as A.Expression, env);
        const b = this.operand(node.right, env);
        const plain = PLAIN[node.operator];
        if (isPlain(a) && isPlain(b) && plain) return plain(a as number, b as number);
        const op = BINARY[node.operator];
        if (!op) return this.fail(node, `the operator ${node.operator} is not supported on traced values (the IR has no bitwise or membership ops)`);
        return this.at(node, () => op(a, b));
      }
      case 'LogicalExpression': {
        if (node.operator === '??') return this.fail(node, '?? is not supported: mod values are never null');
        const a = this.operand(node.left, env);
        if (isPlain(a)) return (node.operator === '&&' ? !a : !!a) ? a : this.operand(node.right, env); // JavaScript's short circuit
        const b = this.operand(node.right, env);
        return this.at(node, () => build.logic(node.operator === '&&' ? 'and' : 'or', a, b));
      }
      case 'UnaryExpression': {
        const a = this.operand(node.argument, env);
        if (isPlain(a)) {
          if (node.operator === '-') return -a;
          if (node.operator === '+') return +a;
          if (node.operator === '!') return !a;
        }
        if (node.operator === '-') return this.at(node, () => build.unaryArith('neg', a));
        if (node.operator === '!') return this.at(node, () => build.not(a));
        if (node.operator === '+') return a;
        return this.fail(node, `the operator ${node.operator} is not supported in a mod`);
      }
      case 'ConditionalExpression': {
        const test = this.value(node.test, env);
        if (isPlain(test)) return test ? this.value(node.consequent, env) : this.value(node.alternate, env);
        const c = this.asOperand(node.test, test);
        const a = this.operand(node.consequent, env);
        const b = this.operand(node.alternate, env);
        return this.at(node, () => build.where(c, a, b));
      }
      case 'MemberExpression':
        return this.member(node, env);
      case 'CallExpression':
        return this.call(node, env);
      case 'ThisExpression':
        return this.fail(node, '`this` is not available in a mod: pass what it refers to in the free variables');
      case 'AssignmentExpression': case 'UpdateExpression':
        return this.fail(node, 'assignments are not supported: a mod is a pure function of its arguments (bind new values with const)');
      case 'ArrowFunctionExpression': case 'FunctionExpression':
        return this.fail(node, 'functions inside a mod are not supported; compute with expressions and const');
      default:
        return this.fail(node, `${node.type} is not supported in a mod`);
    }
  }

  private member(node: A.MemberExpression, env: Env): Value {
    if (node.object.type === 'Super') return this.fail(node, 'super is not supported in a mod');
    const obj = this.value(node.object, env);
    if (obj === MATH && !node.computed && node.property.type === 'Identifier') {
      const c = MATH_CONSTANTS[node.property.name];
      if (c !== undefined) return c;
      return this.fail(node, `Math.${node.property.name} is not a value here; call one of Math.${Object.keys(MATH_FUNCTIONS).join(', Math.')}`);
    }
    if (node.computed && (obj instanceof CapturedTensor || obj instanceof TensorIndex)) {
      const t = obj instanceof TensorIndex ? obj : new TensorIndex(obj, []);
      if (t.indices.length === t.tensor.shape.length) this.fail(node, `${t.tensor.name} has rank ${t.tensor.shape.length}: too many indices`);
      const idx = this.operand(node.property as A.Expression, env);
      const next = new TensorIndex(t.tensor, [...t.indices, idx]);
      return next.indices.length === t.tensor.shape.length ? this.at(node, () => next.tensor.at(...next.indices)) : next;
    }
    if (obj instanceof Scalar && !node.computed && node.property.type === 'Identifier' && node.property.name === 'value') {
      return this.fail(node, `${obj.name}.value would be read once, at trace time, and baked into the kernel; use ${obj.name} itself (its value can then change without a new kernel)`);
    }
    return this.fail(node, `${textOf(this.parsed, node)}: only captured tensors can be indexed (t[i]), and only Math constants and methods of traced values read`);
  }

  private call(node: A.CallExpression, env: Env): Value {
    const args = () => node.arguments.map((a) => (a.type === 'SpreadElement' ? this.fail(a, 'spread arguments are not supported') : this.operand(a, env)));
    const callee = node.callee;
    if (callee.type === 'MemberExpression' && !callee.computed && callee.property.type === 'Identifier' && callee.object.type !== 'Super') {
      const name = callee.property.name;
      const obj = this.value(callee.object, env);
      if (obj === MATH) {
        if (NOT_SUPPORTED_MATH[name]) return this.fail(callee, NOT_SUPPORTED_MATH[name]);
        const f = name === 'min' || name === 'max' ? undefined : MATH_FUNCTIONS[name];
        const xs = args();
        if (name === 'min' || name === 'max') {
          if (xs.length === 0) return this.fail(node, `Math.${name}() needs at least one argument`);
          if (xs.every(isPlain)) return Math[name](...(xs as number[]));
          return this.at(node, () => xs.reduce((acc, x) => build.binaryArith(name, acc, x)));
        }
        if (!f) return this.fail(callee, `Math.${name} has no IR op; supported: Math.${[...Object.keys(MATH_FUNCTIONS), 'min', 'max'].join(', Math.')}`);
        if (xs.length !== f.length) return this.fail(node, `Math.${name} takes ${f.length} argument(s) here`);
        if (xs.every(isPlain)) return (Math as unknown as Record<string, (...a: number[]) => number>)[name]!(...(xs as number[]));
        return this.at(node, () => f(...xs));
      }
      if (obj instanceof CapturedTensor && name === 'at') return this.at(node, () => obj.at(...args()));
      if (obj instanceof Scalar && name === 'expr') return this.at(node, () => obj.expr());
      // methods of traced values (x.ge(y), s.tanh()): the same methods a traced mod calls
      const self = obj instanceof Scalar ? undefined : obj instanceof Expr ? obj : undefined;
      if (self && typeof (Expr.prototype as unknown as Record<string, unknown>)[name] === 'function' && name !== 'constructor' && name !== 'toNode' && name !== 'dump') {
        const method = (self as unknown as Record<string, (...a: Operand[]) => Expr>)[name]!;
        return this.at(node, () => method.apply(self, args()));
      }
      return this.fail(callee, `${textOf(this.parsed, callee)}(…) is not a known function: call Math.* functions, methods of traced values, t.at(…) on captured tensors, or IR functions passed in the free variables`);
    }
    const f = this.value(callee as A.Expression, env);
    if (typeof f === 'object' && f !== null && 'fn' in f) {
      const fn = f.fn;
      return this.at(node, () => fn(...args()));
    }
    return this.fail(callee, `${textOf(this.parsed, callee)} is not a function a mod can call: only Math.*, methods of traced values and IR functions passed in the free variables (jsMod(fn, { where, erf }))`);
  }
}

export { MATH, TensorIndex, type Value, toExpr };
