/**
 * Test-only: central finite differences of a float64 loss in each element of a float32 tensor, for
 * checking gradients. The step is the one actually taken after rounding to float32.
 */
export function numericGradient(data: Float32Array, loss: () => number, step = 2 ** -11): number[] {
  return Array.from(data, (x, i) => {
    const xp = Math.fround(x + step);
    const xm = Math.fround(x - step);
    data[i] = xp;
    const lp = loss();
    data[i] = xm;
    const lm = loss();
    data[i] = x;
    return (lp - lm) / (xp - xm);
  });
}
