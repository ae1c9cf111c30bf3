/**
 * The backends the bench can run: one list, in report order. A new backend package adds one entry
 * here (its name and how to create it, imported only when asked for) and a dependency in bench's
 * package.json; nothing else in the bench names backends. `--backends` defaults to every entry.
 */
import { dawnFromEnv } from './dawn';
import { createReferenceBackend, type FlexAttentionBackend } from './deps';

export interface CreatedBackend {
  backend: FlexAttentionBackend;
  /** Adapter / device description, for reports. */
  device?: string;
}

export interface BackendEntry {
  name: string;
  /** Creates the backend with its `--backend-options`; rejects, with the reason, where it cannot run. */
  create(options?: Record<string, unknown>): Promise<CreatedBackend>;
}

type Described = FlexAttentionBackend & { deviceDescription?: string };

/** A backend package's create function, its module imported at the first use (GPU packages may not load). */
function fromPackage<M>(load: () => Promise<M>, create: (module: M, options: Record<string, unknown>) => Promise<Described>): BackendEntry['create'] {
  return async (options = {}) => {
    const backend = await create(await load(), options);
    return { backend, device: backend.deviceDescription };
  };
}

export const BACKENDS: readonly BackendEntry[] = [
  {
    name: 'reference',
    create: async () => ({ backend: createReferenceBackend(), device: `CPU float64 (${process.arch}, Node ${process.version})` }),
  },
  {
    name: 'webgpu',
    create: fromPackage(
      () => import('@flexattn/backend-webgpu'),
      (m, options) => {
        // the backend's own flags (timestamp queries unquantized), as when it creates the GPU itself
        const gpu = dawnFromEnv(m.DAWN_FLAGS);
        return m.createWebGPUBackend(gpu ? { ...options, gpu } : options) as Promise<Described>;
      },
    ),
  },
  {
    name: 'cuda',
    create: fromPackage(
      () => import('@flexattn/backend-cuda'),
      (m, options) => m.createCudaBackend(options),
    ),
  },
];
