// Plain JS that imports nothing from Vite, so the consumer check can build a copy of the playground
// outside the workspace against the packed packages. FLEXATTN_README points at the README whose
// example the page runs (default: this repository's).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readmeExample } from './readme-example.js';

const readme = process.env.FLEXATTN_README ?? fileURLToPath(new URL('../../README.md', import.meta.url));
// A path-like id (a '\0' id would skip Vite's TypeScript transform); the file itself never exists.
const exampleId = fileURLToPath(new URL('./src/readme-example.virtual.ts', import.meta.url));

export default {
  // WebGPU pages run in browsers that have top-level await, which the README example uses
  build: { target: 'es2022' },
  plugins: [
    {
      name: 'flexattn-readme-example',
      resolveId: (id) => (id === 'virtual:readme-example' ? exampleId : undefined),
      load: (id) => (id === exampleId ? readmeExample(readFileSync(readme, 'utf8')) : undefined),
    },
  ],
};
