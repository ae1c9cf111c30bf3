/**
 * The op table: every operation the IR knows, grouped, with its arity. Renderers, the evaluator,
 * the derivative and the interval analysis each switch over these names, so adding an op means
 * adding one row here and one case in each of those.
 */
export type DType = 'bool' | 'i32' | 'f32';

export const LEAF_OPS = ['const', 'arg', 'scalar', 'load'] as const;
export const BINARY_ARITH_OPS = ['add', 'sub', 'mul', 'div', 'mod', 'floordiv', 'pow', 'min', 'max'] as const;
/** `sign` keeps the dtype: −1, 0 or 1 (floats: ±0 stay ±0, NaN stays NaN). */
export const UNARY_ARITH_OPS = ['neg', 'abs', 'sign'] as const;
export const COMPARE_OPS = ['lt', 'le', 'gt', 'ge', 'eq', 'ne'] as const;
export const LOGIC_OPS = ['and', 'or', 'not'] as const;
export const SELECT_OPS = ['where'] as const;
/** Float math: input promoted to f32, result f32. `tanh_approx` may map to a hardware tanh. */
export const MATH_OPS = ['exp', 'exp2', 'log', 'log2', 'tanh', 'tanh_approx', 'sigmoid', 'sqrt', 'rsqrt', 'sin', 'cos', 'erf'] as const;
/** Rounding keeps the dtype (identity on i32). `round` is to nearest, ties to even (WGSL round, CUDA rintf). */
export const ROUND_OPS = ['floor', 'ceil', 'round'] as const;
export const CAST_OPS = ['tofloat', 'toint'] as const;

export type LeafOp = (typeof LEAF_OPS)[number];
export type BinaryArithOp = (typeof BINARY_ARITH_OPS)[number];
export type UnaryArithOp = (typeof UNARY_ARITH_OPS)[number];
export type CompareOp = (typeof COMPARE_OPS)[number];
export type LogicOp = (typeof LOGIC_OPS)[number];
export type MathOp = (typeof MATH_OPS)[number];
export type RoundOp = (typeof ROUND_OPS)[number];
export type CastOp = (typeof CAST_OPS)[number];
export type Op = LeafOp | BinaryArithOp | UnaryArithOp | CompareOp | LogicOp | 'where' | MathOp | RoundOp | CastOp;

/** The mod's inputs, in the order of the hook signatures. */
export type ArgName = 'score' | 'b' | 'h' | 'q' | 'kv';

const inList = <T extends string>(list: readonly T[]) => (op: string): op is T => (list as readonly string[]).includes(op);
export const isBinaryArith = inList(BINARY_ARITH_OPS);
export const isUnaryArith = inList(UNARY_ARITH_OPS);
export const isCompare = inList(COMPARE_OPS);
export const isMath = inList(MATH_OPS);
export const isRound = inList(ROUND_OPS);
