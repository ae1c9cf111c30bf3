// The backend compiles kernels/*.cuh with NVRTC, whose front end is not nvcc's: it has no host
// compiler behind it, so no C library, no host-compiler builtins and only the headers NVRTC itself
// ships (cuda_fp16.h, cuda_bf16.h). nvcc (compile.test.ts, the harness) accepts all of these, so
// a kernel that leans on one compiles everywhere here and fails only on the GPU machine — a
// __builtin_memcpy once did exactly that (session 13's conformance run on the H100).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelDir } from './kernel-sources';

/** What NVRTC rejects, each with why; comments are stripped before matching. */
const NOT_IN_NVRTC: [RegExp, string][] = [
  [/\b__builtin_(memcpy|memset|memmove|strlen|bit_cast)\b/, 'a host-compiler builtin NVRTC does not declare'],
  [/\bstd::/, 'the C++ standard library (NVRTC has no host headers)'],
  [/(?<![\w.])(memcpy|memset|printf|malloc|free)\s*\(/, 'a C library function NVRTC does not declare without headers'],
  [/#include\s*<(?!cuda_fp16\.h>|cuda_bf16\.h>)/, 'a header NVRTC does not ship'],
];

const stripComments = (text: string) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

describe('kernels/*.cuh use only what NVRTC has', () => {
  const files = readdirSync(kernelDir()).filter((f) => f.endsWith('.cuh'));
  it('finds the kernel files', () => expect(files.length).toBeGreaterThan(5));
  for (const file of files) {
    it(file, () => {
      const lines = stripComments(readFileSync(join(kernelDir(), file), 'utf8')).split('\n');
      const found = lines.flatMap((line, i) =>
        NOT_IN_NVRTC.filter(([re]) => re.test(line)).map(([, why]) => `${file}:${i + 1}: ${line.trim()} — ${why}`));
      expect(found).toEqual([]);
    });
  }
});
