import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createReferenceBackend, type FlexAttentionBackend, type Tensor } from './deps';
import { main } from './cli';
import type { BenchReport } from './report/json';
import { benchmarksDir } from './report/save';

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

  it('--save writes dated reports to the benchmarks folder, never over an earlier run', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flexattn-bench-')), 'benchmarks');
    const before = process.env.FLEXATTN_BENCHMARKS_DIR;
    process.env.FLEXATTN_BENCHMARKS_DIR = dir;
    try {
      for (let i = 0; i < 2; i++) expect(await main([...args, '--save'], { reference: async () => ({ backend: createReferenceBackend() }) }, quiet().log)).toBe(0);
    } finally {
      if (before === undefined) delete process.env.FLEXATTN_BENCHMARKS_DIR;
      else process.env.FLEXATTN_BENCHMARKS_DIR = before;
    }
    const day = new Date().toISOString().slice(0, 10);
    expect(readdirSync(dir).sort()).toEqual([`${day}-quick-reference-2.html`, `${day}-quick-reference-2.json`, `${day}-quick-reference-2.txt`, `${day}-quick-reference.html`, `${day}-quick-reference.json`, `${day}-quick-reference.txt`]);
    const report = JSON.parse(readFileSync(join(dir, `${day}-quick-reference.json`), 'utf8')) as BenchReport;
    expect(report.results.map((r) => r.status)).toEqual(['ok']);
    expect(readFileSync(join(dir, `${day}-quick-reference.txt`), 'utf8')).toMatch(/causal/);
  });

  it('finds the benchmarks folder of the workspace around the working directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'flexattn-ws-'));
    writeFileSync(join(root, 'pnpm-workspace.yaml'), 'packages: []\n');
    mkdirSync(join(root, 'packages', 'bench'), { recursive: true });
    expect(benchmarksDir({}, join(root, 'packages', 'bench'))).toBe(join(root, 'benchmarks'));
    expect(benchmarksDir({ FLEXATTN_BENCHMARKS_DIR: join(root, 'elsewhere') }, root)).toBe(join(root, 'elsewhere'));
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

  it('--backend-options hands each backend its own options, and rejects options for a backend not run', async () => {
    const seen: Record<string, unknown> = {};
    const recording = (name: string) => async (options?: Record<string, unknown>) => {
      seen[name] = options;
      return { backend: { ...createReferenceBackend(), name } };
    };
    const factories = { reference: recording('reference'), copy: recording('copy') };
    const code = await main([...args, '--backend-options', '{"copy":{"warpSpecializedForward":true}}'], factories, quiet().log);
    expect(code).toBe(0);
    expect(seen).toEqual({ reference: undefined, copy: { warpSpecializedForward: true } });
    await expect(main([...args, '--backends', 'reference', '--backend-options', '{"copy":{}}'], factories, quiet().log)).rejects.toThrow(
      /names copy, not among the backends run \(reference\)/,
    );
    await expect(main([...args, '--backend-options', '{"copy":true}'], factories, quiet().log)).rejects.toThrow(/option objects/);
    await expect(main([...args, '--backend-options', '{copy'], factories, quiet().log)).rejects.toThrow(/must be JSON/);
  });

  it('--peer ort sets onnxruntime-web beside each result, or says why it could not run a case', async () => {
    const out = quiet();
    const json = join(mkdtempSync(join(tmpdir(), 'flexattn-cli-')), 'r.json');
    const good = async () => ({ backend: { ...createReferenceBackend(), name: 'copy' } });
    // alibi: ORT has no score mods, so no WGSL is compiled (the quick suite's D64 kernels take ~70 s each on lavapipe)
    const code = await main([...args.map((a) => (a === 'causal' ? 'alibi' : a)), '--peer', 'ort,nosuch', '--json', json], { reference: async () => ({ backend: createReferenceBackend() }), copy: good }, out.log);
    expect(code).toBe(0);
    const text = out.lines.join('\n');
    expect(text).toContain('peer nosuch: unknown (known: torch, ort)');
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(report.peers?.map((p) => p.name)).toEqual(['ort']);
    if (report.peers![0]!.error) {
      // no WebGPU adapter here: the peer says so and the bench still runs
      expect(process.env.FLEXATTN_REQUIRE_WEBGPU).not.toBe('1');
      expect(text).toMatch(/peer ort: not run — onnxruntime-web could not start: WebGPU (has no adapter|is not available)/);
    } else {
      expect(text).toMatch(/peer ort: onnxruntime-web 1\.\d+\.\d+ WebGPU EP/);
      expect(text).toMatch(/copy\s+ok .*ort: onnxruntime-web has no equivalent of alibi/);
      const copy = report.results.find((r) => r.backend === 'copy')!;
      expect(copy.peers).toEqual([{ name: 'ort', error: 'onnxruntime-web has no equivalent of alibi' }]);
    }
  });
});
