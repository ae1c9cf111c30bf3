/** The JSON report: everything measured, with device, date, commit and versions. */
import { execSync } from 'node:child_process';
import type { BlockMaskResult, CaseResult } from '../runner';

export interface BenchReport {
  date: string;
  commit: string;
  node: string;
  suite: string;
  pass: string;
  backends: { name: string; device?: string }[];
  unavailable: { name: string; reason: string }[];
  results: CaseResult[];
  blockMasks: BlockMaskResult[];
  /** The peers of `--peer` (torch, ort): versions and device, or why one did not run. */
  peers?: { name: string; info?: string; error?: string }[];
}

export function gitCommit(): string {
  if (process.env.FLEXATTN_COMMIT) return process.env.FLEXATTN_COMMIT;
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}
