/**
 * Finds the backends this machine can run, from the registry (registry.ts). The reference always
 * loads; GPU backends are imported lazily, and one that cannot start is reported with its reason
 * instead of failing the run.
 */
import type { FlexAttentionBackend } from './deps';
import { type BackendEntry, BACKENDS } from './registry';

export { dawnFromEnv } from './dawn';

export type BackendName = string;

export interface LoadedBackend {
  name: BackendName;
  backend?: FlexAttentionBackend;
  /** Why it is not available (when `backend` is undefined). */
  reason?: string;
  /** Adapter / device description, for reports. */
  device?: string;
}

/** Creates a backend; `options` go to its create function as they are (`--backend-options`). */
export type BackendFactory = BackendEntry['create'];

/** name → create, for a list of registry entries (the bench's own: FACTORIES). */
export function factoriesOf(entries: readonly BackendEntry[]): Record<string, BackendFactory> {
  const out: Record<string, BackendFactory> = {};
  for (const e of entries) {
    if (out[e.name]) throw new Error(`backend registry: '${e.name}' is listed twice`);
    out[e.name] = e.create;
  }
  return out;
}

export const FACTORIES: Record<string, BackendFactory> = factoriesOf(BACKENDS);

/**
 * `options[name]` goes to that backend's factory (e.g. `{ cuda: { hopperForward: 'per-cta' } }`,
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
