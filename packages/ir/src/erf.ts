/**
 * erf in float64, for the IR's reference meaning (JavaScript has no Math.erf). Two classical
 * expansions, each used where it converges fast and without cancellation:
 *  - |x| < 2.5: erf(x) = (2/√π)·e^(−x²)·Σ 2ⁿx^(2n+1) / (1·3·…·(2n+1)) — every term positive, so the
 *    sum is accurate to a few ulps (≤ ~45 terms at the boundary);
 *  - |x| ≥ 2.5: erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), the Laplace
 *    continued fraction, evaluated with the modified Lentz method.
 * Why not a package: the maintained npm erf (@stdlib/math-base-special-erf) brings seven packages,
 * native-addon glue among them, for one function; these 30 lines are checked in erf.test.ts
 * against tabulated values to 2e-16 and against the alternating Taylor series.
 */
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x ≥ 2.5 (the continued fraction, modified Lentz). */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = d === 0 ? tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * Math.exp(-x * x)) / f;
}

/** The error function; erf(±∞) = ±1, erf(NaN) = NaN, erf(−0) = −0. */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const ax = Math.abs(x);
  if (ax === 0) return x;
  const r = ax < 2.5 ? erfSeries(ax) : ax > 6 ? 1 : 1 - erfcFraction(ax);
  return x < 0 ? -r : r;
}

/** Rounds to the nearest integer, ties to even (WGSL's round, CUDA's rintf; not JS Math.round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties toward +∞
  // a tie rounded to an odd integer: step back to the even neighbour (x − 0.5 exactly)
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
