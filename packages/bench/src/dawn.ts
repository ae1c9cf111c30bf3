/**
 * Where node_modules cannot travel (the GPU machine), `$DAWN_NODE` names Dawn's dawn.node directly;
 * it exports the same `create`/`globals` as the `webgpu` package.
 */
import { createRequire } from 'node:module';

/** Dawn's GPU from $DAWN_NODE (the bundle's way to find dawn.node), created with `flags`. */
export function dawnFromEnv(flags: readonly string[] = []): object | undefined {
  const path = process.env.DAWN_NODE;
  if (!path) return undefined;
  const dawn = createRequire(import.meta.url)(path) as { create(flags: string[]): object; globals: object };
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return dawn.create([...flags]);
}
