#!/usr/bin/env node
// The README's two commands: `npm run bench` and `npm test`. On a fresh machine (Node 20+) this
// installs the workspace with the pinned pnpm (through npx when pnpm is absent), builds every
// package, then runs the benchmark or the tests. Extra arguments go to the benchmark.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [task, ...rest] = process.argv.slice(2);
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { TURBO_TELEMETRY_DISABLED: '1', ...process.env }, ...opts });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function pnpm() {
  const probe = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return ['pnpm', []];
  return ['npx', ['-y', `pnpm@${pnpmVersion}`]];
}
const [pm, pmArgs] = pnpm();
const pnpmRun = (...args) => run(pm, [...pmArgs, ...args]);

const marker = join(root, 'node_modules', '.modules.yaml');
const lock = join(root, 'pnpm-lock.yaml');
if (!existsSync(marker) || statSync(lock).mtimeMs > statSync(marker).mtimeMs) {
  pnpmRun('install', '--frozen-lockfile');
}
pnpmRun('exec', 'turbo', 'run', 'build', '--output-logs=errors-only');

if (task === 'bench') {
  run(process.execPath, [join(root, 'packages/bench/dist/cli.js'), ...rest]);
} else if (task === 'test') {
  // One package at a time: the GPU-on-CPU tests would otherwise fight over the 2 cores CI has.
  pnpmRun('exec', 'turbo', 'run', 'test', '--concurrency=1', '--output-logs=new-only');
} else {
  console.error('usage: node scripts/run.mjs bench|test [bench options]');
  process.exit(2);
}
