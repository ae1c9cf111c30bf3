#!/usr/bin/env node
/**
 * flexattn-bench: every backend against the reference on the same cases — correctness first, then
 * speed — as a terminal table, JSON and an HTML report. Exits non-zero when a backend is wrong.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type BackendFactory, dawnFromEnv, FACTORIES, loadBackends } from './backends';
import { SUITES, suiteCases, type Suite } from './cases';
import type { DType } from './deps';
import { attachPeers, type PeerRun } from './peer';
import { ortTarget, runOrtPeer } from './peer-ort';
import { runTorchPeer } from './peer-torch';
import { renderHtml } from './report/html';
import { type BenchReport, gitCommit } from './report/json';
import { renderTerminal } from './report/terminal';
import { runBlockMaskCases, runCases } from './runner';

const USAGE = `flexattn-bench [options]
  --backends reference,webgpu,cuda   default: every backend that loads here
  --suite quick|blog|full|decode|decode-paged   default: quick
  --mods noop,causal,…                only these mods
  --shapes L4096,D128                 only cases whose shape text contains one of these
  --dtype f32|f16|bf16                default: per suite
  --pass fwd|bwd|both                 default: fwd
  --block-size 128 | 64x32            the BlockMask's block size (default 128)
  --iterations N --warmup N           timing repeats (default 20 / 5)
  --json FILE --html FILE             write the reports
  --peer torch,ort                    also time peers: torch = PyTorch FlexAttention (python3 + CUDA);
                                      ort = onnxruntime-web's WebGPU attention on the same Dawn device
                                      (noop and causal, forward, f32; checked against the reference first)
  --no-block-masks                    skip the createBlockMask timings
  --backend-options JSON              options per backend, given to its create function, e.g.
                                      '{"cuda":{"warpSpecializedForward":true}}' or '{"webgpu":{"timestamps":false}}'`;

export async function main(argv: string[], factories: Record<string, BackendFactory> = FACTORIES, log = (s: string) => console.log(s)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backends: { type: 'string' },
      suite: { type: 'string', default: 'quick' },
      mods: { type: 'string' },
      shapes: { type: 'string' },
      dtype: { type: 'string' },
      pass: { type: 'string', default: 'fwd' },
      'block-size': { type: 'string' },
      iterations: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      json: { type: 'string' },
      html: { type: 'string' },
      peer: { type: 'string' },
      'no-block-masks': { type: 'boolean', default: false },
      'backend-options': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(USAGE);
    return 0;
  }
  const suite = values.suite as Suite;
  if (!SUITES.includes(suite)) throw new Error(`--suite must be one of ${SUITES.join(', ')} (got ${suite})`);
  const pass = values.pass as 'fwd' | 'bwd' | 'both';
  if (!['fwd', 'bwd', 'both'].includes(pass)) throw new Error(`--pass must be fwd, bwd or both (got ${pass})`);
  const dtype = values.dtype as DType | undefined;
  if (dtype && !['f32', 'f16', 'bf16'].includes(dtype)) throw new Error(`--dtype must be f32, f16 or bf16 (got ${dtype})`);
  let cases = suiteCases(suite, dtype);
  if (values.mods) {
    const wanted = values.mods.split(',');
    cases = cases.filter((c) => wanted.includes(c.mod));
  }
  if (values['block-size']) {
    const parts = values['block-size'].split('x').map(Number);
    const bs: [number, number] = [parts[0]!, parts[1] ?? parts[0]!];
    if (!bs.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`--block-size must be N or QxKV with positive integers (got ${values['block-size']})`);
    cases = cases.map((c) => ({ ...c, blockSize: bs, id: `${c.id} block ${bs.join('x')}` }));
  }
  if (values.shapes) {
    const wanted = values.shapes.split(',');
    cases = cases.filter((c) => wanted.some((w) => c.id.includes(w)));
  }

  const names = values.backends ? values.backends.split(',') : Object.keys(factories);
  const loaded = await loadBackends(names, factories, parseBackendOptions(values['backend-options']));
  for (const b of loaded) log(b.backend ? `backend ${b.name}: ${b.device ?? 'ready'}` : `backend ${b.name}: not available — ${b.reason}`);
  const live = loaded.filter((b) => b.backend);
  if (values.backends && live.length < loaded.length) {
    // Backends named explicitly must run.
    log('a requested backend is not available');
    return 2;
  }

  const tty = process.stderr.isTTY;
  const progress = (done: number, total: number, label: string) => {
    const width = 30;
    const filled = Math.round((width * done) / Math.max(1, total));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
    if (tty) process.stderr.write(`\r${bar.slice(0, 110).padEnd(110)}${done === total ? '\n' : ''}`);
    else process.stderr.write(`${bar}\n`);
  };
  const results = await runCases(cases, live, {
    pass,
    warmup: Number(values.warmup),
    iterations: Number(values.iterations),
    onProgress: progress,
  });

  const peerRuns: PeerRun[] = [];
  for (const name of values.peer ? values.peer.split(',').filter(Boolean) : []) {
    let run: PeerRun;
    if (name === 'torch') run = runTorchPeer(cases, pass);
    else if (name === 'ort') {
      const webgpuBackend = live.find((b) => b.name === 'webgpu')?.backend;
      run = await runOrtPeer(cases, () => ortTarget(webgpuBackend, dawnFromEnv), { pass, warmup: Number(values.warmup), iterations: Number(values.iterations), onProgress: progress });
    } else {
      log(`peer ${name}: unknown (known: torch, ort)`);
      continue;
    }
    peerRuns.push(run);
    log(run.error ? `peer ${name}: not run — ${run.error}` : `peer ${name}: ${run.info ?? 'ran'}`);
    const wrong = [...run.byId].filter(([, p]) => p.error?.startsWith('out of tolerance'));
    if (wrong.length) log(`peer ${name}: WRONG on ${wrong.length} case(s), not timed: ${wrong.map(([id, p]) => `${id}: ${p.error}`).join('; ')}`);
  }
  attachPeers(results, peerRuns);

  const blockMasks = values['no-block-masks'] ? [] : runBlockMaskCases(cases);
  const report: BenchReport = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    suite,
    pass,
    backends: live.map((b) => ({ name: b.name, device: b.device })),
    unavailable: loaded.filter((b) => !b.backend).map((b) => ({ name: b.name, reason: b.reason ?? '' })),
    results,
    blockMasks,
    peers: peerRuns.length ? peerRuns.map((p) => ({ name: p.name, info: p.info, error: p.error })) : undefined,
  };
  log(renderTerminal(results, blockMasks));
  if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
  if (values.html) writeFileSync(values.html, renderHtml(report));
  for (const b of live) b.backend!.dispose();
  const bad = results.filter((r) => r.status !== 'ok');
  if (bad.length) {
    log(`\n${bad.length} result(s) failed: ${bad.map((r) => `${r.backend} on ${r.case}: ${r.error}`).join('; ')}`);
    return 1;
  }
  return 0;
}

/** `--backend-options`: a JSON object of objects, one per backend name. */
export function parseBackendOptions(text: string | undefined): Record<string, Record<string, unknown>> {
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`--backend-options must be JSON, e.g. '{"cuda":{"warpSpecializedForward":true}}' (${err instanceof Error ? err.message : err})`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(parsed) || !Object.values(parsed).every(isObject))
    throw new Error(`--backend-options must map backend names to option objects, e.g. '{"webgpu":{"timestamps":false}}'`);
  return parsed as Record<string, Record<string, unknown>>;
}

const invokedDirectly = process.argv[1] && /cli\.(js|ts|mjs)$|flexattn-bench/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(2);
    },
  );
}
