/**
 * The traced API's guard against silent miscompiles: before a plain function is traced, its source
 * is checked for JavaScript control flow on traced values (hazards.ts). A mod with such hazards is
 * lowered through the parser (jsMod) when it reads nothing from outside — then `q >= kv ? a : b`
 * means what it says — and refused with a TraceError naming each place and the fix otherwise
 * (its closure's values are not visible in its source, so they cannot be guessed).
 */
import { TraceError } from '../errors';
import { analyzeSource, type SourceAnalysis } from './hazards';
import { isJsMod, jsMod } from './js-mod';

const analyses = new WeakMap<object, SourceAnalysis | null>();
// by source too: an inline arrow passed on every call is a new function with the same text
const bySource = new Map<string, SourceAnalysis | null>();
const SOURCE_CACHE_SIZE = 256;
/** The parser-traced stand-ins of mods with hazards, per function (parsed once). */
const parsedMods = new WeakMap<object, ReturnType<typeof jsMod>>();

function analysisOf(fn: (...args: never[]) => unknown): SourceAnalysis | null {
  let a = analyses.get(fn);
  if (a === undefined) {
    const text = fn.toString();
    a = bySource.get(text);
    if (a === undefined) {
      a = analyzeSource(text) ?? null;
      if (bySource.size >= SOURCE_CACHE_SIZE) bySource.delete(bySource.keys().next().value!);
      bySource.set(text, a);
    }
    analyses.set(fn, a);
  }
  return a;
}

/** The function to trace: `fn` itself, its lowering through the parser, or a TraceError. */
export function guardTracedSource<F extends (...args: never[]) => unknown>(fn: F, kind: 'score' | 'mask', name: string): F {
  if (isJsMod(fn)) return fn;
  const a = analysisOf(fn);
  if (!a || a.hazards.length === 0) return fn;
  if (a.freeNames.size === 0) {
    let lowered = parsedMods.get(fn);
    if (!lowered) parsedMods.set(fn, (lowered = jsMod(fn)));
    return lowered as unknown as F;
  }
  const places = a.hazards.map((h) => `  line ${h.line}, column ${h.column}: ${h.text.length > 60 ? `${h.text.slice(0, 60)}…` : h.text}\n    ${h.why}`).join('\n');
  const free = [...a.freeNames].join(', ');
  const refusal = () => new TraceError(
    `${kind} mod "${name}" uses JavaScript control flow on traced values, which tracing cannot see (it would silently take one branch):\n${places}\n` +
      `Fix: use where(cond, a, b), a.and(b), a.or(b), a.not(), a.eq(b) — or let flexattn read the operators: jsMod(fn, { ${free} }) from @flexattn/ir, passing what the mod reads from outside.`,
  );
  // Run the mod first, so an error of its own (a factory passed instead of its result, a dtype
  // rule) is reported as it would be without the guard; its result is never used.
  const refuse = (...args: Parameters<F>) => {
    fn(...args);
    throw refusal();
  };
  Object.defineProperty(refuse, 'length', { value: fn.length });
  return refuse as unknown as F;
}
