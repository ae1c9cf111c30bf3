// The kernel templates (kernels/*.cuh): which files each kernel kind compiles, its entry points, the
// full source NVRTC compiles (the rendered prelude first) and the templates' version hash, which is
// part of every compile-cache key.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const KERNEL_FILES = {
  // the Hopper wgmma / TMA helpers (forward and backward) travel with the shared definitions
  common: ['common.cuh', 'wgmma.cuh', 'tma.cuh', 'special.cuh'],
  fwd: ['flex_fwd.cuh', 'flex_fwd_wg.cuh', 'flex_fwd_fa3.cuh', 'flex_fwd_entry.cuh'],
  bwd: ['flex_bwd.cuh'],
  // the FA3-class Hopper backward (config.ts BwdConfig.fa3): its flex_bwd_dkdv replaces the one of
  // flex_bwd.cuh, whose preprocess and dQ conversion it keeps; compiled only where it is selected
  bwdFa3: ['flex_bwd.cuh', 'flex_bwd_fa3.cuh'],
  dec: ['flex_decode.cuh'],
} as const;
export type KernelKind = 'fwd' | 'bwd' | 'bwdFa3' | 'dec';
export const ENTRY_POINTS: Record<KernelKind, readonly string[]> = {
  fwd: ['flex_fwd'],
  bwd: ['flex_bwd_preprocess', 'flex_bwd_dkdv', 'flex_bwd_dq_convert'],
  bwdFa3: ['flex_bwd_preprocess', 'flex_bwd_dkdv', 'flex_bwd_dq_convert'],
  dec: ['flex_decode'],
};

/** kernels/ beside src/ and dist/. */
export function kernelDir(): string {
  return fileURLToPath(new URL('../kernels/', import.meta.url));
}
type KernelTexts = Record<'common' | KernelKind, string>;
let kernelText: KernelTexts | null = null;
function kernels(): KernelTexts {
  if (!kernelText) {
    const dir = kernelDir();
    const read = (files: readonly string[]) => files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    kernelText = { common: read(KERNEL_FILES.common), fwd: read(KERNEL_FILES.fwd), bwd: read(KERNEL_FILES.bwd), bwdFa3: read(KERNEL_FILES.bwdFa3), dec: read(KERNEL_FILES.dec) };
  }
  return kernelText;
}
/** A hash of the kernel templates: part of every compile-cache key. */
export function templateVersion(): string {
  const k = kernels();
  return createHash('sha256').update(k.common).update(k.fwd).update(k.bwd).update(k.bwdFa3).update(k.dec).digest('hex').slice(0, 16);
}
/** The full source NVRTC compiles: prelude + common.cuh + the kernel file(s) of `kinds`. */
export function kernelSource(prelude: string, kinds: KernelKind | readonly KernelKind[]): string {
  const k = kernels();
  const files = (typeof kinds === 'string' ? [kinds] : kinds).map((kind) => k[kind]);
  return [prelude, k.common, ...files, ''].join('\n');
}
