/**
 * Finds the backends this machine can run. The reference always loads; GPU backends are imported
 * lazily, and one that cannot start is reported with its reason instead of failing the run.
 */
import { createRequire } from 'node:module';
import { createReferenceBackend, type FlexAttentionBackend } from './deps';

export const ALL_BACKENDS = ['reference', 'webgpu', 'cuda'] as const;
export type BackendName = (typeof ALL_BACKENDS)[number] | string;

export interface LoadedBackend {
  name: BackendName;
  backend?: FlexAttentionBackend;
  /** Why it is not available (when `backend` is undefined). */
  reason?: string;
  /** Adapter / device description, for reports. */
  device?: string;
}

/** Creates a backend; `options` go to its create function as they are (`--backend-options`). */
export type BackendFactory = (options?: Record<string, unknown>) => Promise<{ backend: FlexAttentionBackend; device?: string }>;

/**
 * Where node_modules cannot travel (the GPU machine), `$DAWN_NODE` names Dawn's dawn.node directly;
 * it exports the same `create`/`globals` as the `webgpu` package.
 */
/** Dawn's GPU from $DAWN_NODE (the bundle's way to find dawn.node), created with `flags`. */
export function dawnFromEnv(flags: readonly string[] = []): object | undefined {
  const path = process.env.DAWN_NODE;
  if (!path) return undefined;
  const dawn = createRequire(import.meta.url)(path) as { create(flags: string[]): object; globals: object };
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return dawn.create([...flags]);
}

async function webgpu(options: Record<string, unknown> = {}): Promise<{ backend: FlexAttentionBackend; device?: string }> {
  const mod = (await import('@flexattn/backend-webgpu')) as unknown as {
    createWebGPUBackend(opts?: object): Promise<FlexAttentionBackend & { deviceDescription?: string }>;
    DAWN_FLAGS: readonly string[];
  };
  // the backend's own flags (timestamp queries unquantized), as when it creates the GPU itself
  const gpu = dawnFromEnv(mod.DAWN_FLAGS);
  const backend = await mod.createWebGPUBackend(gpu ? { ...options, gpu } : options);
  return { backend, device: backend.deviceDescription };
}

async function cuda(options: Record<string, unknown> = {}): Promise<{ backend: FlexAttentionBackend; device?: string }> {
  const mod = (await import('@flexattn/backend-cuda')) as unknown as {
    createCudaBackend(opts?: object): Promise<FlexAttentionBackend & { deviceDescription?: string }>;
  };
  const backend = await mod.createCudaBackend(options);
  return { backend, device: backend.deviceDescription };
}

export const FACTORIES: Record<string, BackendFactory> = {
  reference: async () => ({ backend: createReferenceBackend(), device: `CPU float64 (${process.arch}, Node ${process.version})` }),
  webgpu,
  cuda,
};

/**
 * `options[name]` goes to that backend's factory (e.g. `{ cuda: { warpSpecializedForward: true } }`,
 * `{ webgpu: { timestamps: false } }`); a key naming no requested backend is an error, so a typo
 * cannot silently time the defaults.
 */
export async function loadBackends(
  names: readonly string[],
  factories: Record<string, BackendFactory> = FACTORIES,
  options: Record<string, Record<string, unknown>> = {},
): Promise<LoadedBackend[]> {
  const stray = Object.keys(options).filter((k) => !names.includes(k));
  if (stray.length) throw new Error(`--backend-options names ${stray.join(', ')}, not among the backends run (${names.join(', ')})`);
  const out: LoadedBackend[] = [];
  for (const name of names) {
    const factory = factories[name];
    if (!factory) {
      out.push({ name, reason: `unknown backend '${name}'; known: ${Object.keys(factories).join(', ')}` });
      continue;
    }
    try {
      const { backend, device } = await factory(options[name]);
      out.push({ name, backend, device });
    } catch (err) {
      out.push({ name, reason: err instanceof Error ? err.message.split('\n').slice(0, 6).join(' | ') : String(err) });
    }
  }
  return out;
}
