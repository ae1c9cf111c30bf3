#!/usr/bin/env node
// flexattn-cuda-doctor: prints what the CUDA backend finds on this machine (addon, driver, NVRTC,
// devices, cache) and, when all is there, compiles and runs a tiny kernel end to end. Exits 1
// with the loader's explanation when something is missing. Flags: --json, --no-kernel.
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir } from './compile-cache.js';
import {
  type CudaNative,
  formatCudaVersion,
  inspectCuda,
  listProblems,
  loadCudaNative,
  smArch,
} from './native.js';

export interface DoctorOptions {
  out?: (line: string) => void;
  env?: Record<string, string | undefined>;
  json?: boolean;
  /** Compile and run the smoke-test kernel (default true). */
  kernel?: boolean;
}

/** Prints the report; resolves to the process exit code (0: the backend can run here). */
export async function runDoctor(options: DoctorOptions = {}): Promise<number> {
  const out = options.out ?? ((line: string) => console.log(line));
  const env = options.env ?? process.env;
  const report = inspectCuda({ env });
  const problems = listProblems(report);
  const { probe } = report;
  if (options.json) {
    const { addon: _addon, ...plain } = report;
    out(JSON.stringify({ ...plain, cacheDir: defaultCacheDir(env), ok: !problems.length, problems: problems.map((p) => p.message) }, null, 2));
    return problems.length ? 1 : 0;
  }
  const row = (label: string, value: string) => out(`${label.padEnd(10)} ${value}`);
  out('flexattn CUDA doctor');
  row('addon', report.addonPath ?? 'not loaded');
  if (probe) {
    row('driver', probe.driverLoaded ? `${probe.driverPath} (CUDA ${formatCudaVersion(probe.driverVersion)})` : 'libcuda.so.1 not found');
    const v = probe.nvrtcVersion;
    row('nvrtc', probe.nvrtcLoaded ? `${probe.nvrtcPath}${v ? ` (${v[0]}.${v[1]})` : ''}` : 'not found');
    for (const d of probe.devices) {
      const gib = (d.totalMem / 2 ** 30).toFixed(1);
      row(`device ${d.ordinal}`, `${d.name}, compute capability ${d.computeCapability.join('.')} (${smArch(d.computeCapability)}), ${gib} GiB, ${d.smCount} SMs`);
    }
    if (probe.initError) row('init', probe.initError);
  }
  row('cache', defaultCacheDir(env));
  if (problems.length) {
    for (const p of problems) out(`\n${p.message}`);
    return 1;
  }
  if (options.kernel === false) return 0;
  try {
    row('kernel', await smokeTest(loadCudaNative({ env }), 0));
    return 0;
  } catch (e) {
    row('kernel', `FAILED: ${(e as Error).message}`);
    return 1;
  }
}

const VECTOR_ADD = `
extern "C" __global__ void flexattn_smoke(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + 2.0f * b[i];
}`;

/** NVRTC-compiles a vector add for the device's arch, runs it, and checks every element. */
export async function smokeTest(native: CudaNative, device: number): Promise<string> {
  const info = native.init(device);
  const arch = smArch(info.computeCapability);
  const t0 = performance.now();
  const { cubin, format } = await native.compile(VECTOR_ADD, 'flexattn_smoke.cu', [`--gpu-architecture=${arch}`]);
  const compileMs = performance.now() - t0;
  const n = 1000;
  const a = Float32Array.from({ length: n }, (_, i) => i);
  const b = Float32Array.from({ length: n }, (_, i) => n - i);
  const c = new Float32Array(n);
  const mod = native.moduleLoad(cubin);
  const ptrs = [native.alloc(4 * n), native.alloc(4 * n), native.alloc(4 * n)] as const;
  try {
    native.copyHtoD(ptrs[0], a);
    native.copyHtoD(ptrs[1], b);
    native.memsetD8(ptrs[2], 0, 4 * n);
    const fn = native.moduleGetFunction(mod, 'flexattn_smoke');
    const args = [...ptrs.map((p) => new BigUint64Array([p])), new Int32Array([n])];
    native.launch(fn, [Math.ceil(n / 256), 1, 1], [256, 1, 1], 0, 0n, args);
    native.synchronize();
    native.copyDtoH(ptrs[2], c);
  } finally {
    ptrs.forEach((p) => native.free(p));
    native.moduleUnload(mod);
  }
  const bad = c.findIndex((v, i) => v !== a[i]! + 2 * b[i]!);
  if (bad >= 0) throw new Error(`vector add wrong at ${bad}: ${c[bad]} != ${a[bad]! + 2 * b[bad]!}`);
  return `vector add compiled for ${arch} (${format}, ${cubin.byteLength} bytes, ${compileMs.toFixed(0)} ms) and ran: ${n}/${n} correct`;
}

// Run as a program only when this file is the entry point itself: inside another program's
// bundle import.meta.url is that bundle, which argv[1] also names, so the file name must match too.
function isMain(): boolean {
  try {
    const self = realpathSync(fileURLToPath(import.meta.url));
    return !!process.argv[1] && /^doctor\.[cm]?[jt]s$/.test(basename(self)) && realpathSync(process.argv[1]) === self;
  } catch {
    return false;
  }
}

if (isMain()) {
  const args = process.argv.slice(2);
  runDoctor({ json: args.includes('--json'), kernel: !args.includes('--no-kernel') }).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
}
