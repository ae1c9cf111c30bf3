import { describe, expect, it } from 'vitest';
import { createReferenceBackend, type FlexAttentionBackend, type Tensor } from './deps';
import { main } from './cli';

/** A backend whose forward is the reference's with one output element nudged: a planted bug. */
function plantedWrongKernel(): FlexAttentionBackend {
  const ref = createReferenceBackend();
  return {
    name: 'planted',
    async flexAttention(q, k, v, options) {
      const r = await ref.flexAttention(q, k, v, options);
      const out: Tensor = { ...r.out, data: r.out.data.slice() };
      (out.data as Float32Array)[out.data.length - 1]! += 0.05;
      return { ...r, out };
    },
    flexAttentionBackward: (...args) => ref.flexAttentionBackward(...args),
    dispose() {},
  };
}

const quiet = () => {
  const lines: string[] = [];
  return { lines, log: (s: string) => lines.push(s) };
};
const args = ['--suite', 'quick', '--mods', 'causal', '--iterations', '1', '--warmup', '0', '--no-block-masks'];

describe('flexattn-bench', () => {
  it('fails (non-zero exit) when a backend computes a wrong result, and does not time it', async () => {
    const out = quiet();
    const code = await main(args, { reference: async () => ({ backend: createReferenceBackend() }), planted: async () => ({ backend: plantedWrongKernel() }) }, out.log);
    expect(code).toBe(1);
    const text = out.lines.join('\n');
    expect(text).toMatch(/planted on causal .* out: 1 element\(s\) off/);
    expect(text).toMatch(/FAILED/);
  });

  it('passes a correct backend and reports its error against the reference', async () => {
    const out = quiet();
    const good = async () => ({ backend: { ...createReferenceBackend(), name: 'copy' } });
    const code = await main(args, { reference: async () => ({ backend: createReferenceBackend() }), copy: good }, out.log);
    expect(code).toBe(0);
    expect(out.lines.join('\n')).toMatch(/copy\s+ok \(0\.0e\+0\)/);
  });

  it('says why a backend is unavailable and still runs the others', async () => {
    const out = quiet();
    const code = await main(args, {
      reference: async () => ({ backend: createReferenceBackend() }),
      missing: async () => {
        throw new Error('no adapter here');
      },
    }, out.log);
    expect(code).toBe(0);
    expect(out.lines.join('\n')).toContain('backend missing: not available — no adapter here');
  });
});
