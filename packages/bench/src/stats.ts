/** Order statistics of timing samples. */
export interface Stats {
  median: number;
  p10: number;
  p90: number;
  min: number;
  n: number;
}

export function stats(samples: readonly number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => {
    if (s.length === 0) return NaN;
    const x = (s.length - 1) * p;
    const lo = Math.floor(x);
    const hi = Math.ceil(x);
    return s[lo]! + (s[hi]! - s[lo]!) * (x - lo);
  };
  return { median: q(0.5), p10: q(0.1), p90: q(0.9), min: s[0] ?? NaN, n: s.length };
}
