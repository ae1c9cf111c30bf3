/**
 * Numbers as people read them, for every report: three significant digits, digit grouping, never
 * exponent notation (`1,700 GB/s`, not `1.70e+3`), and a dash for a value that is missing.
 */
import type { CaseResult } from '../runner';
import type { Stats } from '../stats';

// Intl rather than toPrecision: toPrecision switches to exponents at 1000 (`1.70e+3`). Trailing
// zeros stay, as with toPrecision: `1.00 ms` says the digits are known.
const digits = (n: number) => new Intl.NumberFormat('en-US', { minimumSignificantDigits: n, maximumSignificantDigits: n, useGrouping: true });
const threeDigits = digits(3);
const fourDigits = digits(4);

export const MISSING = '—';

/** `1,700`, `276`, `1.00`, `0.0123`; `—` for undefined or a non-finite value. */
export function formatNumber(x: number | undefined, digits: 3 | 4 = 3): string {
  if (x === undefined || !Number.isFinite(x)) return MISSING;
  return (digits === 3 ? threeDigits : fourDigits).format(x);
}

/** A value with its unit: `1,700 GB/s`, `1.60×` (no space before ×). */
export function formatValue(x: number | undefined, unit: string): string {
  const n = formatNumber(x);
  if (n === MISSING) return n;
  return unit === '×' ? `${n}×` : `${n} ${unit}`;
}

/** A duration given in milliseconds, in the unit that keeps it between 1 and 1000: `823 µs`, `1.2 s`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return MISSING;
  if (ms >= 1000) return `${formatNumber(ms / 1000)} s`;
  if (ms >= 1) return `${formatNumber(ms)} ms`;
  return `${formatNumber(ms * 1000)} µs`;
}

/** A relative error as the tables show it: `3.1e-3` (small numbers read best as exponents). */
export const formatRelError = (x: number): string => (x === 0 ? '0' : x.toExponential(1));

/**
 * The p10–p90 spread of a rate derived from a median time (TFLOP/s, GB/s): the rate is work / time,
 * so the slow p90 time gives the low rate and the fast p10 time the high one.
 */
export function rateSpread(rate: number | undefined, time: Stats | undefined): { lo: number; hi: number } | undefined {
  if (rate === undefined || !time || !(time.p10 > 0) || !(time.p90 > 0)) return undefined;
  return { lo: (rate * time.median) / time.p90, hi: (rate * time.median) / time.p10 };
}

/**
 * What a result is, for labels: the mod, or `decode` for the decoding case (its mod is `noop`,
 * which would read as the no-mask attention case).
 */
export const caseTitle = (r: Pick<CaseResult, 'kind' | 'mod'>): string => (r.kind === 'decode' ? 'decode' : r.mod);

const SI_PREFIXES = [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3], ['', 1]] as const;

/**
 * A rate unit (`TFLOP/s`, `GB/s`) stepped down until the largest value reads at least 1 — the float64
 * reference's 0.000077 TFLOP/s reads as 77 MFLOP/s — and the factor to multiply the values by.
 * Never steps up: 1,700 GB/s stays in GB/s, the unit the anchors use.
 */
export function readableRateUnit(unit: string, max: number): { unit: string; factor: number } {
  const m = /^([TGMk]?)(.+)$/.exec(unit)!;
  const from = SI_PREFIXES.findIndex(([p]) => p === m[1]);
  const scale = SI_PREFIXES[from]![1];
  for (const [prefix, size] of SI_PREFIXES.slice(from)) if ((max * scale) / size >= 1 || prefix === '') return { unit: `${prefix}${m[2]}`, factor: scale / size };
  return { unit, factor: 1 };
}

/** One rate in the unit that reads best: `435 MFLOP/s`, `1,700 GB/s`. */
export function formatRate(x: number | undefined, unit: string): string {
  if (x === undefined || !Number.isFinite(x) || x <= 0) return formatNumber(x);
  const readable = readableRateUnit(unit, x);
  return formatValue(x * readable.factor, readable.unit);
}
