#!/usr/bin/env node
// The package's install step. The addon ships prebuilt (prebuilds/<platform>-<arch>/, made by
// prebuildify at pack time) and node-gyp-build picks the one for this machine, so most installs
// build nothing and need no compiler. Only where no prebuilt addon loads — another platform, an old
// glibc, or FLEXATTN_CUDA_BUILD_FROM_SOURCE=1 — is it built from native/ with node-gyp. A failed
// build does not fail the install (the package's JS works without the addon; the CUDA backend then
// explains itself when created): it prints one line saying what failed and what to run, and keeps
// node-gyp's output in install-error.log for that explanation and for the doctor.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const logFile = join(root, 'install-error.log');
rmSync(logFile, { force: true });

// A source checkout (src/ is never packed) always builds, so edits to native/ take effect.
const fromSource = process.env.FLEXATTN_CUDA_BUILD_FROM_SOURCE === '1' || existsSync(join(root, 'src'));
if (!fromSource && prebuiltLoads()) process.exit(0);

const build = spawnSync(...nodeGyp(['rebuild']), { cwd: root, encoding: 'utf8', env: process.env });
if (build.status === 0) process.exit(0);

const output = `${build.error ? `${build.error.message}\n` : ''}${build.stdout ?? ''}${build.stderr ?? ''}`;
const reason = firstError(output);
// The first line is the reason, which the CUDA backend's error and the doctor quote.
writeFileSync(logFile, `${reason}\n\n${output}`);
const what = fromSource ? 'building it from source' : `no prebuilt addon for ${platform()}-${arch()} loads here and building it`;
console.error(
  `@flexattn/backend-cuda: ${what} failed (${reason}); CUDA stays unavailable until you install python3, make ` +
    'and a C++17 compiler and run `npm rebuild @flexattn/backend-cuda` (pnpm: `pnpm approve-builds`, then ' +
    `\`pnpm rebuild @flexattn/backend-cuda\`). Log: ${logFile}`,
);

function prebuiltLoads() {
  try {
    require(require('node-gyp-build').resolve(root));
    return true;
  } catch {
    return false;
  }
}

/** npm and pnpm pass their bundled node-gyp in npm_config_node_gyp; else an installed one, else PATH's. */
function nodeGyp(args) {
  let script = process.env.npm_config_node_gyp;
  if (!script || !existsSync(script)) {
    try {
      script = require.resolve('node-gyp/bin/node-gyp.js');
    } catch {
      return ['node-gyp', args];
    }
  }
  return [process.execPath, [script, ...args]];
}

/** The line of node-gyp's output that says what went wrong, e.g. that no C++ compiler was found. */
function firstError(text) {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const pick = (re) => lines.find((l) => re.test(l));
  const line =
    pick(/No such file or directory|command not found|not found:|ENOENT/i) ?? pick(/stack Error: /) ?? pick(/ERR!/) ?? lines.at(-1) ?? 'no output';
  return line.replace(/^gyp ERR! (stack )?/, '').slice(0, 160);
}
