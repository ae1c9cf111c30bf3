import { describe, expect, it } from 'vitest';
import { DOCTOR_HELP, main } from './doctor.js';

describe('flexattn-cuda-doctor command line', () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, (l) => out.push(l), (l) => err.push(l));
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('--help prints the usage, the consumer commands and prerequisites, and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run([flag]);
      expect(r).toEqual({ code: 0, out: DOCTOR_HELP, err: '' });
    }
    expect(DOCTOR_HELP).toMatch(/npm rebuild @flexattn\/backend-cuda/);
    expect(DOCTOR_HELP).toMatch(/pnpm approve-builds/);
    expect(DOCTOR_HELP).toMatch(/python3, make and a C\+\+17 compiler/);
  });

  it('an unknown flag or a stray argument exits 2 with the usage', async () => {
    for (const args of [['--jsno'], ['extra']]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/^flexattn-cuda-doctor: /);
      expect(r.err).toContain('Usage: flexattn-cuda-doctor');
      expect(r.out).toBe('');
    }
  });
});
