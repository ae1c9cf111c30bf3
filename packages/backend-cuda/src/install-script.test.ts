// scripts/install.mjs, run as a package manager runs it, in a copy of the package laid out as
// installed (no src/): it uses a prebuilt addon that loads, else builds with node-gyp, and a failed
// build leaves the install green with one line that names the fix. node-gyp is a stand-in here,
// told to fail the way it does on a machine with no C++ compiler.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { builtAddon } from './built-addon.test-helpers.js';
import { explainUnavailable, installFailure } from './native.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const NO_COMPILER = 'make: g++: No such file or directory';

/** A package copy inside node_modules/, so the script resolves node-gyp-build as when installed. */
const copies: string[] = [];
afterAll(() => copies.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function installedCopy(withPrebuilt: boolean) {
  const root = mkdtempSync(join(pkg, 'node_modules', '.install-test-'));
  copies.push(root);
  mkdirSync(join(root, 'scripts'));
  copyFileSync(join(pkg, 'scripts', 'install.mjs'), join(root, 'scripts', 'install.mjs'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: '@flexattn/backend-cuda', type: 'module' }));
  if (withPrebuilt) {
    const dir = join(root, 'prebuilds', `${platform()}-${arch()}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(builtAddon, join(dir, '@flexattn+backend-cuda.glibc.node')); // the name prebuildify --napi --tag-libc gives
  }
  const fakeGyp = join(root, 'fake-node-gyp.cjs');
  writeFileSync(fakeGyp, [
    `require('fs').writeFileSync(${JSON.stringify(join(root, 'gyp-called'))}, process.argv.slice(2).join(' '));`,
    `console.log('gyp info it worked if it ends with ok');`,
    `console.error(${JSON.stringify(NO_COMPILER)});`,
    "console.error('gyp ERR! stack Error: `make` failed with exit code: 2');",
    'process.exit(1);',
  ].join('\n'));
  const run = (env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(root, 'scripts', 'install.mjs')], {
      cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', npm_config_node_gyp: fakeGyp, ...env },
    });
  return { root, run, gypCalled: () => existsSync(join(root, 'gyp-called')) };
}

describe('install script', () => {
  it('a failed build from source: exit 0, one line naming the reason and the commands, the reason kept for the runtime error', () => {
    const { root, run, gypCalled } = installedCopy(false);
    const r = run();
    expect(r.status).toBe(0);
    expect(gypCalled()).toBe(true);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`no prebuilt addon for ${platform()}-${arch()} loads here`);
    expect(lines[0]).toContain(NO_COMPILER);
    expect(lines[0]).toContain('`npm rebuild @flexattn/backend-cuda`');
    expect(lines[0]).toContain('`pnpm approve-builds`');
    expect(r.stdout).toBe('');
    expect(installFailure(root)).toBe(NO_COMPILER);
    expect(readFileSync(join(root, 'install-error.log'), 'utf8')).toContain('`make` failed with exit code: 2');
    const error = explainUnavailable({ addonPath: null, addonTried: [], addon: null, probe: null, nvrtcSearched: [], installError: installFailure(root) });
    expect(error?.message).toContain(`Building it at install failed: ${NO_COMPILER}.`);
  });

  it.skipIf(!existsSync(builtAddon))('a prebuilt addon that loads: builds nothing and prints nothing', () => {
    const { run, gypCalled } = installedCopy(true);
    const r = run();
    expect([r.status, r.stdout, r.stderr, gypCalled()]).toEqual([0, '', '', false]);
  });

  it.skipIf(!existsSync(builtAddon))('FLEXATTN_CUDA_BUILD_FROM_SOURCE=1 builds even beside a prebuilt addon', () => {
    const { run, gypCalled } = installedCopy(true);
    const r = run({ FLEXATTN_CUDA_BUILD_FROM_SOURCE: '1' });
    expect(r.status).toBe(0);
    expect(gypCalled()).toBe(true);
    expect(r.stderr).toContain('building it from source failed');
  });
});
