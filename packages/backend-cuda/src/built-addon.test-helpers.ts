// The package's own addon as the loader finds it, for tests that need a real one: build/Release after
// a build from source, or prebuilds/<platform>-<arch>/ after a pack (prebuildify moves the build there).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonCandidates } from './native.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
export const builtAddon =
  addonCandidates({}, join(pkg, 'src')).find((p) => existsSync(p) && statSync(p).isFile()) ?? join(pkg, 'build', 'Release', 'flexattn_cuda.node');
