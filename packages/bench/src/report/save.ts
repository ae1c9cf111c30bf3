/**
 * `--save`: the reports of a run as dated files in the repo's `benchmarks/` folder (where every
 * result of the project lives, next to its summary table), named so runs never overwrite each
 * other: `<YYYY-MM-DD>-<suite>-<backends>[-<n>].json|.html|.txt`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** $FLEXATTN_BENCHMARKS_DIR, else `benchmarks/` of the workspace around `cwd` (pnpm-workspace.yaml), else `cwd/benchmarks`. */
export function benchmarksDir(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): string {
  if (env.FLEXATTN_BENCHMARKS_DIR) return resolve(env.FLEXATTN_BENCHMARKS_DIR);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return join(dir, 'benchmarks');
    if (dirname(dir) === dir) return join(resolve(cwd), 'benchmarks');
  }
}

/** The path stem (no extension) for this run's files in `dir`, created if missing; a free `-<n>` suffix when taken. */
export function reportStem(dir: string, date: string, suite: string, backends: readonly string[]): string {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${date.slice(0, 10)}-${suite}-${backends.join('-') || 'none'}`);
  let stem = base;
  for (let n = 2; ['.json', '.html', '.txt'].some((ext) => existsSync(stem + ext)); n++) stem = `${base}-${n}`;
  return stem;
}
