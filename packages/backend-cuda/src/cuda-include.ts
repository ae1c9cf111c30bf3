// Where NVRTC finds the CUDA headers the kernels include: the candidate folders, in order, and the
// first that holds cuda_bf16.h (or an error that lists every place tried and what to do).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BackendUnavailableError } from '@flexattn/ir';

/**
 * Folders that may hold the CUDA headers the kernels include (cuda_bf16.h, cuda_fp16.h). NVRTC 13
 * has no built-in copy of them (seen on the H100 machine: "could not open source file
 * cuda_bf16.h (no directories in search list)"), so the toolkit's include folder is passed with -I.
 */
export function cudaIncludeCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const list = [
    env.FLEXATTN_CUDA_INCLUDE,
    env.CUDA_HOME && join(env.CUDA_HOME, 'include'),
    env.CUDA_PATH && join(env.CUDA_PATH, 'include'),
    '/usr/local/cuda/include',
    '/usr/local/cuda/targets/x86_64-linux/include',
    '/usr/local/cuda/targets/sbsa-linux/include',
    '/usr/include',
  ];
  for (const root of ['/usr/local/lib', '/usr/lib', '/opt/torch/.venv/lib']) {
    try {
      for (const py of readdirSync(root).filter((n) => n.startsWith('python3'))) {
        for (const site of ['dist-packages', 'site-packages']) {
          list.push(join(root, py, site, 'nvidia/cuda_runtime/include'), join(root, py, site, 'nvidia/cu13/include'));
        }
      }
    } catch {
      /* no such folder */
    }
  }
  return [...new Set(list.filter((p): p is string => !!p))];
}

/** The first candidate holding cuda_bf16.h, or a BackendUnavailableError that lists them. */
export function findCudaInclude(env: Record<string, string | undefined> = process.env): string {
  const candidates = cudaIncludeCandidates(env);
  const found = candidates.find((dir) => existsSync(join(dir, 'cuda_bf16.h')));
  if (!found) {
    throw new BackendUnavailableError(
      'The CUDA headers cuda_bf16.h / cuda_fp16.h that the kernels include were not found (NVRTC needs them on its ' +
        'include path). Set FLEXATTN_CUDA_INCLUDE or CUDA_HOME to a CUDA toolkit (its include/ folder), or ' +
        '`pip install nvidia-cuda-runtime` (its nvidia/cuda_runtime/include).',
      candidates.map((c) => `${c}: no cuda_bf16.h`),
    );
  }
  return found;
}
