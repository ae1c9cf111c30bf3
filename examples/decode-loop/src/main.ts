/** `pnpm --filter @flexattn/example-decode-loop start`: the decode loop on the reference, with a summary. */
import { createReferenceBackend } from '@flexattn/ir/reference';
import { runDecodeLoop } from './decode-loop';

const options = { prompts: [37, 90, 5], steps: 24, dModel: 32, kvHeads: 2, groupSize: 2, headDim: 8, pageSize: 16, sinks: 4, window: 48, seed: 1 };
const result = await runDecodeLoop(createReferenceBackend(), options);
for (const c of result.calls) {
  console.log(`${c.phase.padEnd(7)} positions ${c.positions.join(', ').padEnd(14)} max |paged − dense| ${c.maxAbsError.toExponential(2)} ${c.ok ? 'ok' : 'MISMATCH'}`);
}
console.log(`${result.calls.length} attention calls; ${result.pagesUsed} of ${result.pages} pages in use`);
process.exitCode = result.calls.every((c) => c.ok) ? 0 : 1;
