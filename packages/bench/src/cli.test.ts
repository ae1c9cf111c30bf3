import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
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

/** The command's output, captured: stdout lines, stderr lines, and the progress stream's text. */
const quiet = (color = false) => {
  const lines: string[] = [];
  const errors: string[] = [];
  let progressText = '';
  const progress = Object.assign(new Writable({ write: (chunk: Buffer, _enc, done) => ((progressText += chunk.toString()), done()) }), { isTTY: false });
  return {
    lines,
    errors,
    progressText: () => progressText,
    io: { log: (s: string) => void lines.push(s), error: (s: string) => void errors.push(s), progress, color },
  };
};
const reference = async () => ({ backend: createReferenceBackend() });
const args = ['--suite', 'quick', '--mods', 'causal', '--iterations', '1', '--warmup', '0', '--no-block-masks'];

describe('flexattn-bench', () => {
  it('fails (exit 1) when a backend computes a wrong result, does not time it, and lists each failure on its own lines in red', async () => {
    const out = quiet(true);
    const code = await main(args, { reference, planted: async () => ({ backend: plantedWrongKernel() }) }, out.io);
    expect(code).toBe(1);
    const text = out.lines.join('\n');
    expect(text).toMatch(/planted\s+\S*FAILED/);
    const summary = text.slice(text.indexOf('1 result(s) failed'));
    expect(summary).toMatch(/\n\S*\s+planted on causal B1 H2 L256 D64 f32:\n\s+out: 1 element\(s\) off/);
    expect(summary).toContain('\x1b[31m'); // red, as the caller's terminal supports colour
  });

  it('--no-color overrides a colour terminal; a run without failures has no red', async () => {
    const planted = { reference, planted: async () => ({ backend: plantedWrongKernel() }) };
    const noColor = quiet(true);
    expect(await main([...args, '--no-color'], planted, noColor.io)).toBe(1);
    expect(noColor.lines.join('\n')).not.toContain('\x1b[');
    const good = quiet(true);
    expect(await main(args, { reference, copy: async () => ({ backend: { ...createReferenceBackend(), name: 'copy' } }) }, good.io)).toBe(0);
    expect(good.lines.join('\n')).not.toContain('\x1b[31m');
  });

  it('passes a correct backend, reports its error against the reference, and shows an ETA while it runs', async () => {
    const out = quiet();
    const good = async () => ({ backend: { ...createReferenceBackend(), name: 'copy' } });
    const code = await main(args, { reference, copy: good }, out.io);
    expect(code).toBe(0);
    expect(out.lines.join('\n')).toMatch(/copy\s+ok \(0\)/);
    // one progress line per step in a log, each with the steps done, an ETA and the step
    const progress = out.progressText().trimEnd().split('\n');
    expect(progress[0]).toMatch(/^\[-+\] 0\/2 ETA … {2}reference: causal B1 H2 L256 D64 f32$/);
    expect(progress[1]).toMatch(/^\[=+-+\] 1\/2 ETA (\d+m )?\d+s {2}copy: causal B1 H2 L256 D64 f32$/);
    expect(progress.at(-1)).toMatch(/^\[=+\] 2\/2 ETA 0s {2}done$/);
  });

  it('--save writes dated reports to the benchmarks folder, never over an earlier run', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flexattn-bench-')), 'benchmarks');
    const before = process.env.FLEXATTN_BENCHMARKS_DIR;
    process.env.FLEXATTN_BENCHMARKS_DIR = dir;
    try {
      for (let i = 0; i < 2; i++) expect(await main([...args, '--save'], { reference }, quiet().io)).toBe(0);
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

  it('says why a backend is unavailable, one line per line of the reason, and still runs the others', async () => {
    const out = quiet();
    const code = await main(args, {
      reference,
      missing: async () => {
        throw new Error('no adapter here\ntried: lavapipe, swiftshader\nfix: apt-get install mesa-vulkan-drivers');
      },
    }, out.io);
    expect(code).toBe(0);
    expect(out.lines.join('\n')).toContain('backend missing: not available\n    no adapter here\n    tried: lavapipe, swiftshader\n    fix: apt-get install mesa-vulkan-drivers');
  });

  it('exits 2 when a backend named in --backends is not available, before running anything', async () => {
    const out = quiet();
    const code = await main([...args, '--backends', 'reference,missing'], { reference, missing: async () => { throw new Error('no driver'); } }, out.io);
    expect(code).toBe(2);
    expect(out.errors.join('\n')).toMatch(/--backends names missing, not available here/);
    expect(out.progressText()).toBe('');
  });

  it('bad flags exit 2 before any backend loads', async () => {
    let loads = 0;
    const counting = async () => ((loads += 1), { backend: createReferenceBackend() });
    for (const bad of [['--iterations', 'abc'], ['--mods', 'nosuchmod'], ['--version2']]) {
      const out = quiet();
      expect(await main([...args, ...bad], { reference: counting }, out.io)).toBe(2);
      expect(out.errors.join('\n')).toMatch(/^error: /);
    }
    expect(loads).toBe(0);
    const version = quiet();
    expect(await main(['--version'], { reference: counting }, version.io)).toBe(0);
    expect(version.lines).toEqual([expect.stringMatching(/^flexattn-bench \d+\.\d+\.\d+$/)]);
  });

  it('--backend-options hands each backend its own options, and rejects options for a backend not run', async () => {
    const seen: Record<string, unknown> = {};
    const recording = (name: string) => async (options?: Record<string, unknown>) => {
      seen[name] = options;
      return { backend: { ...createReferenceBackend(), name } };
    };
    const factories = { reference: recording('reference'), copy: recording('copy') };
    const code = await main([...args, '--backend-options', '{"copy":{"warpSpecializedForward":true}}'], factories, quiet().io);
    expect(code).toBe(0);
    expect(seen).toEqual({ reference: undefined, copy: { warpSpecializedForward: true } });
    const rejected = async (extra: string[], message: RegExp) => {
      const out = quiet();
      expect(await main([...args, ...extra], factories, out.io)).toBe(2);
      expect(out.errors.join('\n')).toMatch(message);
    };
    await rejected(['--backends', 'reference', '--backend-options', '{"copy":{}}'], /names copy, not among the backends run \(reference\)/);
    await rejected(['--backend-options', '{"copy":true}'], /option objects/);
    await rejected(['--backend-options', '{copy'], /Expected JSON/);
  });

  it('--peer ort sets onnxruntime-web beside each result, or says why it could not run a case', async () => {
    const out = quiet();
    const json = join(mkdtempSync(join(tmpdir(), 'flexattn-cli-')), 'r.json');
    const good = async () => ({ backend: { ...createReferenceBackend(), name: 'copy' } });
    // alibi: ORT has no score mods, so no WGSL is compiled (the quick suite's D64 kernels take ~70 s each on lavapipe)
    const code = await main([...args.map((a) => (a === 'causal' ? 'alibi' : a)), '--peer', 'ort', '--json', json], { reference, copy: good }, out.io);
    expect(code).toBe(0);
    const text = out.lines.join('\n');
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(report.peers?.map((p) => p.name)).toEqual(['ort']);
    if (report.peers![0]!.error) {
      // no WebGPU adapter here: the peer says so and the bench still runs
      expect(process.env.FLEXATTN_REQUIRE_WEBGPU).not.toBe('1');
      expect(text).toMatch(/peer ort: not run\n\s+onnxruntime-web could not start: WebGPU (has no adapter|is not available)/);
    } else {
      expect(text).toMatch(/peer ort: onnxruntime-web 1\.\d+\.\d+ WebGPU EP/);
      expect(text).toMatch(/copy\s+ok .*ort: onnxruntime-web has no equivalent of alibi/);
      const copy = report.results.find((r) => r.backend === 'copy')!;
      expect(copy.peers).toEqual([{ name: 'ort', error: 'onnxruntime-web has no equivalent of alibi' }]);
    }
  });
});
