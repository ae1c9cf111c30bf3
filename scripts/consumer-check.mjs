#!/usr/bin/env node
// The packages as a user gets them. Packs every package, checks what each tarball holds (no
// `source` condition, no workspace: ranges, LICENSE, links that work on npm, no logs or results),
// runs publint and attw on it, installs the tarballs into a fresh "type": "module" project on a
// PATH with no C++ compiler (so the CUDA addon must come prebuilt), then in that project: runs the
// README example in Node, type-checks it with skipLibCheck: false under nodenext and bundler,
// `require`s each package, builds the playground against the installed packages and drives it in
// Chromium (e2e/playground.test.ts, the README example included), and finally breaks the CUDA
// addon on purpose to see the failed fallback build print its one line and the runtime error and
// doctor name the fix. Usage: node scripts/consumer-check.mjs [--keep] (keep the scratch folder).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmeExample } from '../examples/playground/readme-example.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'flexattn-consumer-'));
const started = Date.now();
const pnpm = ['npx', ['-y', `pnpm@${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1]}`]];
const problems = [];

const step = (what) => console.log(`\nconsumer-check [${Math.round((Date.now() - started) / 1000)} s]: ${what}`);
const expect = (ok, what) => {
  if (!ok) problems.push(what);
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

/** Runs a command; returns its output, or throws with it when the exit status is not `status`. */
function run(cmd, args, { cwd = root, env = process.env, status = 0, quiet = true } = {}) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, stdio: quiet ? 'pipe' : 'inherit' });
  if (r.error) throw r.error;
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (status !== null && r.status !== status) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}, expected ${status}:\n${out}`);
  return { out, stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
}
const node = (args, opts) => run(process.execPath, args, opts);

// ------------------------------------------------------------------ pack
step('build and pack every package');
run(pnpm[0], [...pnpm[1], 'exec', 'turbo', 'run', 'build', '--output-logs=errors-only', '--filter=./packages/*']);
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const packages = readdirSync(join(root, 'packages'))
  .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
  .map((d) => ({ dir: join(root, 'packages', d), manifest: JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')) }));
run(pnpm[0], [...pnpm[1], '-r', '--filter=./packages/*', 'pack', '--pack-destination', tarballs]);
for (const p of packages) {
  p.tarball = join(tarballs, `${p.manifest.name.replace('@', '').replace('/', '-')}-${p.manifest.version}.tgz`);
  expect(existsSync(p.tarball), `packed ${basename(p.tarball)}`);
}
const published = packages.filter((p) => !p.manifest.private);

// ------------------------------------------------------------------ what each tarball holds
step('tarball contents and manifests');
const rootRepo = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).repository?.url;
for (const p of packages) {
  const name = p.manifest.name;
  const files = run('tar', ['-tzf', p.tarball]).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  const manifest = JSON.parse(run('tar', ['-xOzf', p.tarball, 'package/package.json']).stdout);
  const readme = files.includes('README.md') ? run('tar', ['-xOzf', p.tarball, 'package/README.md']).stdout : '';
  const json = JSON.stringify(manifest);
  expect(!/"source"\s*:/.test(JSON.stringify(manifest.exports ?? {})), `${name}: no "source" condition in the packed exports`);
  expect(!json.includes('workspace:'), `${name}: no workspace: ranges in the packed manifest`);
  expect(files.includes('LICENSE') && manifest.license === 'MIT', `${name}: MIT, with its LICENSE file`);
  const stray = files.filter((f) => /\.log$|(^|\/)results\/|^src\/|\.test\.|(^|\/)out\//.test(f));
  expect(stray.length === 0, `${name}: no logs, results, sources or tests packed${stray.length ? ` (${stray.slice(0, 5).join(', ')})` : ''}`);
  const relative = [...readme.matchAll(/\]\(([^)\s]+)[^)]*\)/g)].map((m) => m[1]).filter((href) => !/^(https?:|mailto:|#)/.test(href));
  expect(relative.length === 0, `${name}: README links all absolute (relative ones break on npm)${relative.length ? `: ${relative.join(', ')}` : ''}`);
  if (p.manifest.private) {
    expect(files.every((f) => /^(dist\/|LICENSE$|README\.md$|package\.json$)/.test(f)), `${name}: packs dist, README and LICENSE only (${files.length} files)`);
    continue;
  }
  expect(/^## Install/m.test(readme), `${name}: README has an Install section`);
  for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'engines', 'description']) {
    expect(manifest[field] !== undefined, `${name}: has ${field}`);
  }
  expect(manifest.repository?.url === rootRepo, `${name}: repository is the root package.json's (${rootRepo})`);
  for (const [sub, cond] of Object.entries(manifest.exports ?? {})) {
    expect(cond.types && cond.import && cond.default, `${name}${sub.slice(1)}: exports types, import and default`);
  }
}
const cuda = packages.find((p) => p.manifest.name === '@flexattn/backend-cuda');
const cudaFiles = run('tar', ['-tzf', cuda.tarball]).stdout;
expect(/package\/prebuilds\/linux-x64\/[^\n]+\.node/.test(cudaFiles), '@flexattn/backend-cuda: ships the prebuilt linux-x64 addon');

// ------------------------------------------------------------------ publint, attw
step('publint and attw on each tarball');
const bin = (name) => join(root, 'node_modules', '.bin', name);
for (const p of published) {
  const lint = run(bin('publint'), ['run', p.tarball, '--strict'], { status: null });
  expect(lint.status === 0 && /All good/.test(lint.out), `publint ${p.manifest.name}${lint.status === 0 ? '' : `\n${lint.out}`}`);
  // ESM only, by design: `require` works through Node >= 20.19's require(esm), checked below for real.
  const attw = run(bin('attw'), [p.tarball, '--profile', 'esm-only', '--format', 'ascii'], { status: null });
  expect(attw.status === 0, `attw --profile esm-only ${p.manifest.name}${attw.status === 0 ? '' : `\n${attw.out}`}`);
}

// ------------------------------------------------------------------ install without a compiler
step('npm install the tarballs into a fresh "type": "module" project, with no C++ compiler on PATH');
const consumer = join(work, 'consumer');
mkdirSync(consumer);
writeFileSync(join(consumer, 'package.json'), JSON.stringify({
  name: 'flexattn-consumer', private: true, type: 'module',
  dependencies: Object.fromEntries(published.map((p) => [p.manifest.name, `file:${p.tarball}`])),
}, null, 2));
// PATH holds node, python3 and sh only: node-gyp's fallback would find Python but no make, cc or c++.
const noCompiler = join(work, 'no-compiler-bin');
mkdirSync(noCompiler);
const python = run('python3', ['-c', 'import sys; print(sys.executable)'], { status: null }).stdout.trim(); // the binary, not a pyenv shim
for (const [tool, path] of [['node', process.execPath], ['python3', python], ['sh', '/bin/sh']]) {
  if (path) symlinkSync(realpathSync(path), join(noCompiler, tool));
}
const { CC: _cc, CXX: _cxx, ...baseEnv } = process.env;
const hiddenEnv = { ...baseEnv, PATH: noCompiler };
const compilers = run('/bin/sh', ['-c', 'for t in cc c++ gcc g++ clang clang++ make; do command -v $t; done; true'], { env: hiddenEnv }).stdout.trim();
expect(compilers === '', `no compiler or make visible on the install's PATH${compilers ? ` (found ${compilers})` : ''}`);
const npmCli = realpathSync(run('sh', ['-c', 'command -v npm']).stdout.trim());
const npm = (args, opts = {}) => node([npmCli, ...args, '--no-audit', '--no-fund'], { cwd: consumer, env: hiddenEnv, ...opts });
const install = npm(['install', '--foreground-scripts']);
const cudaDir = join(consumer, 'node_modules', '@flexattn', 'backend-cuda');
expect(!/@flexattn\/backend-cuda: /.test(install.out), 'the install printed no addon build failure');
expect(!existsSync(join(cudaDir, 'build')), 'nothing was compiled (no build/ in the installed backend-cuda)');
const probe = JSON.parse(node(['--input-type=module', '-e', `
  const { inspectCuda } = await import('@flexattn/backend-cuda');
  const r = inspectCuda();
  console.log(JSON.stringify({ addonPath: r.addonPath, probed: !!r.probe, tried: r.addonTried }));`], { cwd: consumer }).stdout);
expect(probe.probed && /\/prebuilds\/linux-x64\/[^/]+\.node$/.test(probe.addonPath ?? ''), `the prebuilt addon loads (${probe.addonPath ?? probe.tried.join('; ')})`);
const doctorBin = join(consumer, 'node_modules', '.bin', 'flexattn-cuda-doctor');
const help = run(doctorBin, ['--help'], { cwd: consumer, env: hiddenEnv });
expect(/^Usage: flexattn-cuda-doctor/.test(help.stdout) && help.stdout.includes('npm rebuild @flexattn/backend-cuda'), 'flexattn-cuda-doctor --help');
const doctor = run(doctorBin, ['--no-kernel'], { cwd: consumer, env: hiddenEnv, status: null });
expect(doctor.stdout.includes(`addon      ${probe.addonPath}`) && [0, 1].includes(doctor.status), `flexattn-cuda-doctor names the prebuilt addon (exit ${doctor.status}: ${doctor.status ? 'no GPU here' : 'CUDA usable'})`);

// ------------------------------------------------------------------ the README example in Node
step('the README example in Node');
const exampleTs = readmeExample(readFileSync(join(root, 'README.md'), 'utf8'));
writeFileSync(join(consumer, 'readme-example.ts'), exampleTs);
const ts = createRequire(join(root, 'package.json'))('typescript');
const exampleJs = ts.transpileModule(exampleTs, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
writeFileSync(join(consumer, 'readme-example.mjs'), exampleJs);
const nodeOutput = node(['readme-example.mjs'], { cwd: consumer }).stdout.trim();
console.log(`  it printed: ${nodeOutput}`);
expect(/^\[ 1, 8, 256, 64 \] \[ 1, 8, 256 \] Float32Array\(3\) \[/.test(nodeOutput), 'the README example ran and printed its shapes and first outputs');

// ------------------------------------------------------------------ types
step('type-check with skipLibCheck: false under nodenext and bundler');
writeFileSync(join(consumer, 'types-check.ts'), `// What the packages' declarations must give a user: real WebGPU types, one error hierarchy.
import { createWebGPUBackend, BackendUnavailableError as FromWebGPU, type WebGPUBackend } from '@flexattn/backend-webgpu';
import { BackendUnavailableError as FromCuda, createCudaBackend } from '@flexattn/backend-cuda';
import { BackendUnavailableError, FlexAttnError } from '@flexattn/ir';
import { createBlockMask } from '@flexattn/blockmask';
import { causal } from '@flexattn/mods';

export const onDevice = (device: GPUDevice): Promise<WebGPUBackend> => createWebGPUBackend({ device });
// @ts-expect-error a number is no GPUDevice; were the WebGPU types \`any\`, this line would compile
export const notADevice: GPUDevice = 42;
export const sameClass: (typeof BackendUnavailableError)[] = [FromWebGPU, FromCuda];
export const isFlexError = (e: unknown): e is FlexAttnError => e instanceof FlexAttnError;
export const mask = createBlockMask(causal(), { qLen: 256, kvLen: 256 });
export const cuda = createCudaBackend;
`);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
for (const [label, options] of Object.entries({
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' },
})) {
  writeFileSync(join(consumer, `tsconfig.${label}.json`), JSON.stringify({
    compilerOptions: { ...options, target: 'es2022', lib: ['es2023', 'dom'], types: [], strict: true, skipLibCheck: false, noEmit: true },
    files: ['readme-example.ts', 'types-check.ts'],
  }, null, 2));
  const check = node([tsc, '-p', `tsconfig.${label}.json`], { cwd: consumer, status: null });
  expect(check.status === 0, `tsc --noEmit under ${label}${check.status === 0 ? '' : `\n${check.out}`}`);
}

// ------------------------------------------------------------------ require
step('require() each package (Node >= 20.19 loads ESM through require)');
const entries = published.flatMap((p) => Object.keys(p.manifest.exports ?? { '.': 1 }).filter((s) => s !== './testing').map((s) => p.manifest.name + s.slice(1)));
const required = node(['--no-warnings', '--input-type=commonjs', '-e', `
  const out = {};
  for (const spec of ${JSON.stringify(entries)}) out[spec] = Object.keys(require(spec)).length;
  const ir = require('@flexattn/ir');
  out.sameErrors = ['@flexattn/backend-webgpu', '@flexattn/backend-cuda'].every((b) => require(b).BackendUnavailableError === ir.BackendUnavailableError);
  import('@flexattn/ir').then((esm) => { out.oneCopy = esm.TraceError === ir.TraceError; console.log(JSON.stringify(out)); });`], { cwd: consumer, status: null });
const loaded = required.status === 0 ? JSON.parse(required.stdout) : {};
for (const spec of entries) expect(loaded[spec] > 0, `require('${spec}')${required.status === 0 ? '' : `\n${required.out}`}`);
expect(loaded.sameErrors === true, 'each backend exports the same BackendUnavailableError class as ir');
expect(loaded.oneCopy === true, 'require and import give the same module (no dual-package copy)');

// ------------------------------------------------------------------ the playground in Chromium
step('build the playground against the installed packages and drive it in Chromium');
const playgroundSrc = join(root, 'examples', 'playground');
const playground = join(consumer, 'playground');
for (const f of ['index.html', 'vite.config.js', 'readme-example.js', 'src']) {
  cpSync(join(playgroundSrc, f), join(playground, f), { recursive: true, filter: (src) => !src.endsWith('.test.ts') });
}
const toolEnv = { ...process.env, FLEXATTN_README: join(root, 'README.md') };
node([join(playgroundSrc, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: playground, env: toolEnv });
const assets = join(playground, 'dist', 'assets');
const bundle = readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
expect(!/vitest/.test(bundle), 'the browser bundle holds no vitest');
const e2e = node([join(playgroundSrc, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'e2e'], {
  cwd: playgroundSrc, env: { ...toolEnv, PLAYGROUND_DIR: join(playground, 'dist'), README_NODE_OUTPUT: nodeOutput }, status: null, quiet: false,
});
expect(e2e.status === 0, 'e2e/playground.test.ts passes against the packed packages (the README example included)');

// ------------------------------------------------------------------ a failed fallback build
step('no prebuilt addon and no compiler: the fallback build fails with one line, and the runtime error and doctor name the fix');
rmSync(join(cudaDir, 'prebuilds'), { recursive: true });
const rebuild = npm(['rebuild', '@flexattn/backend-cuda', '--foreground-scripts']);
const lines = rebuild.out.split('\n').filter((l) => l.startsWith('@flexattn/backend-cuda: '));
console.log(`  ${lines.join('\n  ')}`);
expect(lines.length === 1 && lines[0].includes('`npm rebuild @flexattn/backend-cuda`') && lines[0].includes('`pnpm approve-builds`'), 'npm rebuild exits 0 and prints one line naming the commands');
expect(/\bmake\b|g\+\+|c\+\+|\bcc\b/.test(lines[0] ?? ''), 'the line gives the missing compiler toolchain as the reason');
const runtime = node(['--input-type=module', '-e', `
  const { createCudaBackend } = await import('@flexattn/backend-cuda');
  try { await createCudaBackend(); console.log('created'); } catch (e) { console.log(e.name + ': ' + e.message); }`], { cwd: consumer }).stdout;
expect(/^BackendUnavailableError: /.test(runtime) && /Building it at install failed: /.test(runtime) && runtime.includes('`npm rebuild @flexattn/backend-cuda`') && runtime.includes('`pnpm approve-builds`'),
  `createCudaBackend() throws BackendUnavailableError naming the reason and the commands\n    ${runtime.split('\n')[0]}`);
const doctorNow = run(doctorBin, ['--no-kernel'], { cwd: consumer, env: hiddenEnv, status: null });
expect(doctorNow.status === 1 && doctorNow.stdout.includes('npm rebuild @flexattn/backend-cuda'), 'flexattn-cuda-doctor exits 1 naming the fix');

// ------------------------------------------------------------------
const seconds = Math.round((Date.now() - started) / 1000);
if (problems.length) {
  console.log(`\nconsumer-check: ${problems.length} problem(s) in ${seconds} s (scratch folder kept: ${work}):\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
if (!process.argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
console.log(`\nconsumer-check: all green in ${seconds} s${process.argv.includes('--keep') ? ` (scratch folder: ${work})` : ''}`);
