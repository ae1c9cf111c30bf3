/**
 * Adapter and device acquisition, feature detection and limits.
 *
 * Browsers: `navigator.gpu`. Node: the caller passes Dawn's `GPU` (npm `webgpu`, `create([])`),
 * or we import `webgpu` ourselves. The result, a `GpuContext`, carries the features and limits
 * that decide the kernel variants (tile sizes from workgroup memory, subgroup reductions, f16).
 */
import { BackendUnavailableError } from './errors.js';

export interface GpuCaps {
  f16: boolean;
  subgroups: boolean;
  /** smallest subgroup the adapter may run (0 when unknown) */
  subgroupMinSize: number;
  timestampQuery: boolean;
  maxWorkgroupStorage: number;
  maxInvocations: number;
  maxStorageBuffersPerStage: number;
  maxStorageBindingSize: number;
  maxBufferSize: number;
  maxWorkgroupsPerDim: number;
}

export interface GpuContext {
  device: GPUDevice;
  caps: GpuCaps;
  adapterName: string;
  /** true when we created the device (and so destroy it on dispose) */
  owned: boolean;
  /**
   * The GPU object the device came from. Held on purpose: dawn.node tears its instance down when
   * the `GPU` object is collected, which kills devices still in use.
   */
  gpu?: GPU;
}

/** dawn.node instances we created: kept alive for the life of the process (see GpuContext.gpu). */
const keepAlive = new Set<GPU>();

export interface DeviceOptions {
  gpu?: GPU;
  device?: GPUDevice;
  /** ask for the low-power adapter (tests); default high-performance */
  powerPreference?: GPUPowerPreference;
}

const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/**
 * Flags for the dawn.node instances we create: Dawn quantizes timestamp queries to 65.5 µs by
 * default (a browser fingerprinting guard), too coarse to time a 0.2 ms decode pass. Callers that
 * create their own `GPU` can pass the same flags: `create(DAWN_FLAGS)`.
 */
export const DAWN_FLAGS: readonly string[] = ['disable-dawn-features=timestamp_quantization'];

/** Reads the caps of an existing device. */
export function capsOf(device: GPUDevice, adapterInfo?: GPUAdapterInfo): GpuCaps {
  const l = device.limits;
  const info = (adapterInfo ?? (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo) as
    | (GPUAdapterInfo & { subgroupMinSize?: number })
    | undefined;
  return {
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    subgroupMinSize: info?.subgroupMinSize ?? 0,
    timestampQuery: device.features.has('timestamp-query'),
    maxWorkgroupStorage: l.maxComputeWorkgroupStorageSize,
    maxInvocations: Math.min(l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX),
    maxStorageBuffersPerStage: l.maxStorageBuffersPerShaderStage,
    maxStorageBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxWorkgroupsPerDim: l.maxComputeWorkgroupsPerDimension,
  };
}

async function findGpu(tried: string[]): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) {
    tried.push('navigator.gpu');
    return nav.gpu;
  }
  tried.push('navigator.gpu (absent)');
  try {
    // Node: Dawn's dawn.node through the optional peer dependency `webgpu`.
    const name = 'webgpu';
    const mod = (await import(/* @vite-ignore */ name)) as {
      create: (o: string[]) => GPU;
      globals: object;
    };
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    tried.push(`import('webgpu') → create(${JSON.stringify(DAWN_FLAGS)})`);
    const gpu = mod.create([...DAWN_FLAGS]);
    keepAlive.add(gpu);
    return gpu;
  } catch (e) {
    tried.push(`import('webgpu') failed: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

/** Gets (or wraps) a device with the features and limits our kernels want. */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  if (opts.device) {
    return { device: opts.device, caps: capsOf(opts.device), adapterName: 'caller device', owned: false };
  }
  const tried: string[] = [];
  const gpu = opts.gpu ?? (await findGpu(tried));
  if (opts.gpu) tried.push('the GPU object passed in');
  if (!gpu) {
    throw new BackendUnavailableError(
      'WebGPU is not available: no navigator.gpu and the `webgpu` package (Dawn) could not be loaded. ' +
        'In Node, `npm i webgpu` or pass { gpu: create([]) }; in a browser, enable WebGPU.',
      tried,
    );
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  } catch (e) {
    tried.push(`requestAdapter threw: ${(e as Error).message}`);
  }
  if (!adapter) {
    tried.push('requestAdapter() → null');
    throw new BackendUnavailableError(
      'WebGPU has no adapter here (no GPU driver, or no Vulkan/Metal/D3D12 ICD such as Mesa lavapipe). ' +
        'Install a Vulkan driver (e.g. apt install mesa-vulkan-drivers) or use another backend.',
      tried,
    );
  }
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const al = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
    maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxBufferSize: al.maxBufferSize,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  } catch (e) {
    tried.push(`requestDevice failed: ${(e as Error).message}`);
    throw new BackendUnavailableError('WebGPU adapter found, but requestDevice failed.', tried);
  }
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number };
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  return { device, caps: capsOf(device, info), adapterName: name || 'unknown adapter', owned: true, gpu };
}
