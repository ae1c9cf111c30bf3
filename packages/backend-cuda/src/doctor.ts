// flexattn-cuda-doctor: prints what the CUDA backend finds on this machine (addon, driver, NVRTC,
// devices, cache) and, when all is there, compiles and runs a tiny kernel end to end. Exits 1
// with the loader's explanation when something is missing. bin/flexattn-cuda-doctor.js runs main().
import { parseArgs } from 'node:util';
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

export const DOCTOR_HELP = `Usage: flexattn-cuda-doctor [--json] [--no-kernel]

Checks what @flexattn/backend-cuda needs on this machine: its native addon (prebuilt for linux-x64,
else built at install), the NVIDIA driver (libcuda.so.1), NVRTC (libnvrtc.so) and the GPUs; then
compiles and runs a tiny kernel. Exits 0 when the CUDA backend can run here, 1 when not (saying why
and what to do), 2 for a bad flag.

  --json       print the findings as JSON
  --no-kernel  skip the compile-and-run check
  -h, --help   print this help

The addon needs no CUDA toolkit. Where it was not built (no prebuilt addon for this platform, and no
C++ compiler at install), install python3, make and a C++17 compiler, then run
\`npm rebuild @flexattn/backend-cuda\` (pnpm 10: \`pnpm approve-builds\`, then
\`pnpm rebuild @flexattn/backend-cuda\`). NVRTC: set FLEXATTN_NVRTC_PATH or CUDA_HOME, or
\`pip install nvidia-cuda-nvrtc\`.`;

/** The command line: parses the flags (util.parseArgs: strict, so a typo is an error, not ignored). */
export async function main(args: string[], out: (line: string) => void = (l) => console.log(l), err: (line: string) => void = (l) => console.error(l)): Promise<number> {
  let values: { json?: boolean; 'no-kernel'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { json: { type: 'boolean' }, 'no-kernel': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    err(`flexattn-cuda-doctor: ${(e as Error).message}\n\n${DOCTOR_HELP}`);
    return 2;
  }
  if (values.help) {
    out(DOCTOR_HELP);
    return 0;
  }
  return runDoctor({ out, json: values.json, kernel: !values['no-kernel'] });
}
