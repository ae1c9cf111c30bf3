// The addon and its loader on whatever machine runs the tests: here, usually no GPU, no libcuda
// and no NVRTC, so the tests check that every missing piece is reported with what was tried and
// what to do. On a machine with a GPU the same tests check the found values instead.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtAddon } from './built-addon.test-helpers.js';
import { runDoctor } from './doctor.js';
import {
  type CudaProbe,
  type NativeAddon,
  addonCandidates,
  createCudaNative,
  explainUnavailable,
  inspectCuda,
  loadCudaNative,
  nvrtcCandidates,
} from './native.js';
import { BackendUnavailableError, CompileError } from './native-errors.js';

const addonFile = builtAddon;
const built = existsSync(addonFile);
const NOT_BUILT = 'flexattn_cuda.node is not built: run `pnpm --filter @flexattn/backend-cuda build:native`';
const here = `${platform()}-${arch()}`;
const tmp = () => mkdtempSync(join(tmpdir(), 'flexattn-native-'));

describe('search lists', () => {
  it('tries FLEXATTN_CUDA_ADDON first, then next to the module, then where the package keeps its own', () => {
    const list = addonCandidates({ FLEXATTN_CUDA_ADDON: '/x/my.node' }, '/pkg/dist');
    expect(list).toEqual(['/x/my.node', '/pkg/dist/flexattn_cuda.node', '/pkg/build/Release/flexattn_cuda.node', `/pkg/prebuilds/${here}`]);
  });

  it("picks the package's addon as node-gyp-build does: a from-source build before the prebuilt one", () => {
    const root = tmp();
    const prebuilt = join(root, 'prebuilds', here, `@flexattn+backend-cuda.${process.versions.napi ? 'napi.' : ''}node`);
    mkdirSync(dirname(prebuilt), { recursive: true });
    writeFileSync(prebuilt, '');
    expect(addonCandidates({}, join(root, 'dist')).at(-1)).toBe(prebuilt);
    const fromSource = join(root, 'build', 'Release', 'flexattn_cuda.node');
    mkdirSync(dirname(fromSource), { recursive: true });
    writeFileSync(fromSource, '');
    expect(addonCandidates({}, join(root, 'dist')).at(-1)).toBe(fromSource);
  });

  it('says when the prebuilt folder holds nothing for this machine', () => {
    const root = tmp();
    mkdirSync(join(root, 'prebuilds', here, 'other'), { recursive: true });
    const report = inspectCuda({ addonPath: join(root, 'prebuilds', here) });
    expect(report.addonTried).toEqual([`${join(root, 'prebuilds', here)}: no prebuilt addon in it matches this machine (${here}, Node-API ${process.versions.napi})`]);
  });

  it('lists NVRTC from FLEXATTN_NVRTC_PATH first, newest version first, and names empty folders', () => {
    const dir = tmp();
    for (const n of ['libnvrtc.so.12', 'libnvrtc.so.13.0.88', 'libnvrtc.so', 'libnvrtc-builtins.so.13', 'libnvrtc.so.13']) {
      writeFileSync(join(dir, n), n); // distinct contents: no realpath dedupe
    }
    const { candidates, searched } = nvrtcCandidates({
      FLEXATTN_NVRTC_PATH: `${dir}:/opt/custom/libnvrtc.so.13`,
      CUDA_HOME: join(dir, 'no-toolkit'),
    });
    expect(candidates.slice(0, 5)).toEqual([
      join(dir, 'libnvrtc.so'),
      join(dir, 'libnvrtc.so.13.0.88'),
      join(dir, 'libnvrtc.so.13'),
      join(dir, 'libnvrtc.so.12'),
      '/opt/custom/libnvrtc.so.13', // a missing file stays: its dlopen error explains the typo
    ]);
    expect(candidates.slice(-4)).toEqual(['libnvrtc.so', 'libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so.11.2']);
    expect(searched).toContain(`${join(dir, 'no-toolkit')}/lib64 (no such folder)`);
  });

  it('finds NVRTC inside a Python wheel layout under CUDA_HOME-like roots', () => {
    const root = tmp();
    mkdirSync(join(root, 'lib64'));
    writeFileSync(join(root, 'lib64', 'libnvrtc.so.13'), 'x');
    expect(nvrtcCandidates({ CUDA_PATH: root }).candidates[0]).toBe(join(root, 'lib64', 'libnvrtc.so.13'));
  });
});

describe('the built addon', () => {
  const raw = () => inspectCuda({ addonPath: addonFile }).addon as NativeAddon;

  it('loads and reports the driver (missing here: with the loader\'s reason)', (ctx) => {
    if (!built) ctx.skip(NOT_BUILT);
    const report = inspectCuda({ addonPath: addonFile });
    expect(report.addonTried).toEqual([]);
    const probe = report.probe!;
    if (probe.driverLoaded) {
      expect(probe.driverVersion).toBeGreaterThanOrEqual(11000);
      expect(probe.driverPath).toMatch(/libcuda\.so/);
    } else {
      expect(probe.driverTried[0]).toMatch(/^libcuda\.so\.1: .*(cannot open shared object file|No such file)/);
      expect(probe.tried[0]).toBe(`libcuda: ${probe.driverTried[0]}`);
      expect(probe.driverVersion).toBe(0);
      expect(probe.devices).toEqual([]);
    }
  });

  it('records why each NVRTC candidate failed: not an ELF file, missing symbols, not found', (ctx) => {
    if (!built) ctx.skip(NOT_BUILT);
    const dir = tmp();
    writeFileSync(join(dir, 'libnvrtc.so.99'), 'not a shared library');
    copyFileSync(addonFile, join(dir, 'libnvrtc.so.98')); // a real ELF without nvrtc* symbols
    const probe = raw().probe(['libcuda-does-not-exist.so.1'], [
      join(dir, 'libnvrtc.so.99'),
      join(dir, 'libnvrtc.so.98'),
      join(dir, 'missing.so'),
    ]);
    if (probe.nvrtcLoaded) ctx.skip('NVRTC was already loaded in this process (GPU machine): the search is over');
    expect(probe.nvrtcTried).toHaveLength(3);
    expect(probe.nvrtcTried[0]).toMatch(/libnvrtc\.so\.99: .*(invalid ELF header|file too short)/);
    expect(probe.nvrtcTried[1]).toMatch(/libnvrtc\.so\.98: loaded, but missing symbol nvrtcGetErrorString/);
    expect(probe.nvrtcTried[2]).toMatch(/missing\.so: .*No such file/);
  });

  it('refuses driver calls before probe/init, and compile rejects without NVRTC', async (ctx) => {
    if (!built) ctx.skip(NOT_BUILT);
    const addon = raw();
    if (addon.probe().driverLoaded) ctx.skip('a driver is present: covered by the device run');
    expect(() => addon.init(0)).toThrow(/libcuda is not loaded/);
    expect(() => addon.alloc(16)).toThrow(/libcuda is not loaded/);
    await expect(addon.compile('__global__ void k() {}', 'k.cu', [])).rejects.toThrow(/NVRTC is not loaded/);
  });

  it('loadCudaNative throws BackendUnavailableError listing what was tried and the fix', (ctx) => {
    if (!built) ctx.skip(NOT_BUILT);
    const report = inspectCuda({ addonPath: addonFile });
    if (!explainUnavailable(report)) ctx.skip('CUDA is usable on this machine');
    let error: unknown;
    try {
      loadCudaNative({ addonPath: addonFile });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackendUnavailableError);
    const e = error as BackendUnavailableError;
    expect(e.name).toBe('BackendUnavailableError');
    if (!report.probe!.driverLoaded) {
      expect(e.message).toMatch(/libcuda\.so\.1 could not be loaded/);
      expect(e.message).toMatch(/Install the NVIDIA driver/);
      expect(e.tried).toEqual(report.probe!.driverTried);
      expect(e.message).toContain(`  - ${report.probe!.driverTried[0]}`);
    }
  });
});

describe('explaining what is missing', () => {
  it('an unbuilt addon: says which files were looked for and the build command', () => {
    const dir = tmp();
    const garbage = join(dir, 'flexattn_cuda.node');
    writeFileSync(garbage, 'not an addon');
    const missing = inspectCuda({ addonPath: join(dir, 'nope.node') });
    expect(missing.addon).toBeNull();
    expect(missing.addonTried).toEqual([`${join(dir, 'nope.node')}: not found`]);
    const e = explainUnavailable(missing)!;
    expect(e).toBeInstanceOf(BackendUnavailableError);
    // the consumer's commands, not this monorepo's
    expect(e.message).toContain('`npm rebuild @flexattn/backend-cuda`');
    expect(e.message).toContain('`pnpm approve-builds`');
    expect(e.message).toContain('python3, make and a C++17 compiler');
    expect(e.message).toContain('nope.node: not found');
    const broken = inspectCuda({ addonPath: garbage });
    expect(broken.addonTried[0]).toMatch(/flexattn_cuda\.node: .*(invalid ELF header|file too short)/);
  });

  const probe = (over: Partial<CudaProbe>): CudaProbe => ({
    driverLoaded: true, driverPath: '/usr/lib/libcuda.so.1', driverTried: [], nvrtcLoaded: true,
    nvrtcPath: '/usr/local/cuda/lib64/libnvrtc.so.13', nvrtcTried: [], tried: [], driverVersion: 13000,
    nvrtcVersion: [13, 0], initError: null,
    devices: [{ ordinal: 0, name: 'NVIDIA H100', computeCapability: [9, 0], totalMem: 85e9, smCount: 132 }],
    ...over,
  });
  const report = (p: CudaProbe, nvrtcSearched: string[] = []) =>
    ({ addonPath: '/a.node', addonTried: [], addon: {} as NativeAddon, probe: p, nvrtcSearched, installError: null });

  it('NVRTC missing: lists the dlopen failures, the empty folders and the variables to set', () => {
    const p = probe({ nvrtcLoaded: false, nvrtcPath: null, nvrtcTried: ['libnvrtc.so: cannot open shared object file'] });
    const e = explainUnavailable(report(p, ['/usr/local/cuda/lib64']))!;
    expect(e.message).toMatch(/FLEXATTN_NVRTC_PATH/);
    expect(e.message).toMatch(/CUDA_HOME/);
    expect(e.message).toContain('Searched with no libnvrtc.so* found: /usr/local/cuda/lib64');
    expect(e.tried).toEqual(['libnvrtc.so: cannot open shared object file']);
    expect(explainUnavailable(report(p), { requireNvrtc: false })).toBeNull();
  });

  it('driver present but no device: quotes the driver error', () => {
    const e = explainUnavailable(report(probe({ initError: 'cuInit failed: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)', devices: [] })))!;
    expect(e.message).toMatch(/CUDA 13\.0/);
    expect(e.message).toMatch(/CUDA_ERROR_NO_DEVICE/);
    expect(e.message).toMatch(/CUDA_VISIBLE_DEVICES/);
    expect(explainUnavailable(report(probe({})))).toBeNull();
  });
});

describe('the typed surface over a fake addon', () => {
  const calls: unknown[][] = [];
  const fake = new Proxy({} as NativeAddon, {
    get: (_t, name: string) => {
      if (name === 'funcGetParamInfo') return () => [{ offset: 0, size: 8 }, { offset: 8, size: 4 }];
      if (name === 'compile') {
        return async () => {
          throw Object.assign(new Error('nvrtcCompileProgram failed for k.cu: NVRTC_ERROR_COMPILATION\nk.cu(1): error: x'), { log: 'k.cu(1): error: x' });
        };
      }
      return (...args: unknown[]) => void calls.push([name, ...args]);
    },
  });
  const p: CudaProbe = {
    driverLoaded: true, driverPath: 'libcuda.so.1', driverTried: [], nvrtcLoaded: true, nvrtcPath: 'libnvrtc.so',
    nvrtcTried: [], tried: [], driverVersion: 13000, nvrtcVersion: [13, 0], initError: null,
    devices: [{ ordinal: 0, name: 'GPU0', computeCapability: [9, 0], totalMem: 1, smCount: 1 }],
  };
  const native = createCudaNative(fake, p, '/fake.node');

  it('adds byte offsets to device pointers and passes the stream through', () => {
    calls.length = 0;
    const host = new Float32Array(4);
    native.copyHtoD(0x1000n, host, 16);
    native.copyDtoHAsync(0x2000n, host, 7n, 8);
    expect(calls).toEqual([
      ['copyHtoD', 0x1010n, host],
      ['copyDtoH', 0x2008n, host, 7n],
    ]);
  });

  it('checks kernel argument sizes against the kernel before launching', () => {
    calls.length = 0;
    const ok = [new BigUint64Array([1n]), new Int32Array([3])];
    native.launch(5n, [1, 1, 1], [32, 1, 1], 0, 0n, ok);
    expect(calls).toHaveLength(1);
    expect(() => native.launch(5n, [1, 1, 1], [32, 1, 1], 0, 0n, [new Int32Array([1]), new Int32Array([3])])).toThrow(
      /argument 0 holds 4 bytes; the kernel's parameter 0 is 8/,
    );
    expect(() => native.launch(5n, [1, 1, 1], [32, 1, 1], 0, 0n, ok.slice(0, 1))).toThrow(/takes 2 parameters, 1 given/);
    expect(calls).toHaveLength(1);
  });

  it('turns a compile failure into CompileError with the full log, and a bad ordinal into BackendUnavailableError', async () => {
    const err = await native.compile('bad', 'k.cu', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).log).toBe('k.cu(1): error: x');
    expect((err as CompileError).message).toMatch(/^nvrtcCompileProgram failed for k\.cu/);
    expect(() => native.init(3)).toThrow(BackendUnavailableError);
    expect(() => native.init(3)).toThrow(/device 3 does not exist; this machine has 1 \(0: GPU0\)/);
  });
});

describe('doctor', () => {
  it('prints what it found and exits 1 with the explanation when CUDA is unusable', async (ctx) => {
    if (!built) ctx.skip(NOT_BUILT);
    if (!explainUnavailable(inspectCuda())) ctx.skip('CUDA is usable on this machine');
    const lines: string[] = [];
    const code = await runDoctor({ out: (l) => lines.push(l), env: { ...process.env, FLEXATTN_CUDA_CACHE: '/tmp/fa-cache' } });
    const text = lines.join('\n');
    expect(code).toBe(1);
    expect(text).toMatch(/^addon +\/.*(flexattn_cuda|@flexattn\+backend-cuda\.glibc)\.node$/m);
    expect(text).toMatch(/^cache +\/tmp\/fa-cache$/m);
    expect(text).toMatch(/BackendUnavailableError|could not be loaded|no usable GPU/);
    const json: string[] = [];
    expect(await runDoctor({ out: (l) => json.push(l), json: true })).toBe(1);
    const parsed = JSON.parse(json.join('\n')) as { ok: boolean; problems: string[]; probe: CudaProbe };
    expect(parsed.ok).toBe(false);
    expect(parsed.problems.length).toBeGreaterThan(0);
    if (!parsed.probe.nvrtcLoaded) expect(text).toMatch(/NVRTC .* could not be loaded/);
    expect(Array.isArray(parsed.probe.tried)).toBe(true);
  });
});
