// The page: reads the boxes and shapes, shows the block mask, runs the check and the timing on
// WebGPU, and runs the README example with its console output shown. Results carry data-* values
// (e2e/playground.test.ts reads them).
import { createWebGPUBackend, type WebGPUBackend } from '@flexattn/backend-webgpu';
import { blockMaskFor, checkAgainstReference, CHECK_TOLERANCE, type Mods, type Shape, timeForward } from './experiment';
import { drawBlockMask } from './mask-picture';
import { modFromSource, SYNTAXES } from './mod-source';
import { PRESETS } from './presets';

const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const maskBox = $<HTMLTextAreaElement>('#mask-src');
const scoreBox = $<HTMLTextAreaElement>('#score-src');
const errorBox = $<HTMLPreElement>('#error');

for (const [i, p] of PRESETS.entries()) $<HTMLSelectElement>('#preset').add(new Option(p.name, String(i)));
for (const [key, s] of Object.entries(SYNTAXES)) $<HTMLSelectElement>('#syntax').add(new Option(s.label, key));
const loadPreset = (i: number) => {
  maskBox.value = PRESETS[i]!.mask;
  scoreBox.value = PRESETS[i]!.score;
};
$<HTMLSelectElement>('#preset').onchange = (e) => loadPreset(Number((e.target as HTMLSelectElement).value));
loadPreset(0);

function shapeOf(which: 'small' | 'large'): Shape {
  const value = (name: string) => {
    const input = $<HTMLInputElement>(`[data-shape="${which}"] input[name="${name}"]`);
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${which} shape: ${name} must be a positive integer, got "${input.value}"`);
    return n;
  };
  return { L: value('L'), blockSize: value('blockSize'), H: value('H'), D: value('D') };
}

function modsFor(shape: Shape): Mods {
  const syntax = SYNTAXES[$<HTMLSelectElement>('#syntax').value]!;
  const sizes = { H: shape.H, L: shape.L };
  return {
    mask: modFromSource(maskBox.value, 'mask', sizes, syntax)?.mod as Mods['mask'],
    score: modFromSource(scoreBox.value, 'score', sizes, syntax)?.mod as Mods['score'],
  };
}

let backend: Promise<WebGPUBackend> | undefined;
function webgpu(): Promise<WebGPUBackend> {
  backend ??= createWebGPUBackend().then((b) => {
    $('#device').textContent = `${b.deviceDescription}`;
    return b;
  });
  return backend;
}

/** Runs one button's work: errors (a typo in a mod, no WebGPU) go to the error box, by name. */
function onClick(id: string, work: () => Promise<void>) {
  const button = $<HTMLButtonElement>(id);
  button.onclick = async () => {
    errorBox.hidden = true;
    document.body.dataset.busy = 'true';
    button.disabled = true;
    try {
      await work();
    } catch (e) {
      errorBox.textContent = `${(e as Error).name}: ${(e as Error).message}`;
      errorBox.hidden = false;
    } finally {
      button.disabled = false;
      delete document.body.dataset.busy;
    }
  };
}

const fmt = (x: number) => x.toExponential(2);
const rate = (tflops: number) => (tflops >= 1 ? `${tflops.toFixed(2)} TFLOP/s` : `${(tflops * 1000).toFixed(2)} GFLOP/s`);

onClick('#show-mask', async () => {
  const shape = shapeOf('large');
  const mask = blockMaskFor(modsFor(shape), shape);
  const sparsity = $('#sparsity');
  if (!mask) {
    sparsity.textContent = 'No mask mod: every block is computed (0% sparsity).';
    sparsity.dataset.value = '0';
    return;
  }
  drawBlockMask($<HTMLCanvasElement>('#mask-canvas'), mask);
  const [qBlocks, kvBlocks] = mask.seqLengths.map((n, i) => Math.ceil(n / mask.blockSize[i]!));
  sparsity.textContent = `${mask.sparsity().toFixed(1)}% of the ${qBlocks}×${kvBlocks} blocks skipped (head 0 shown)`;
  sparsity.dataset.value = String(mask.sparsity());
});

onClick('#run-check', async () => {
  const shape = shapeOf('small');
  const r = await checkAgainstReference(await webgpu(), modsFor(shape), shape);
  const out = $('#check-result');
  out.className = r.ok ? 'ok' : 'bad';
  out.textContent = `${r.ok ? 'matches' : 'DIFFERS FROM'} the float64 reference: max |Δout| ${fmt(r.maxAbsErrorOut)}, max |Δlse| ${fmt(r.maxAbsErrorLse)} (tolerance ${CHECK_TOLERANCE.atol} + ${CHECK_TOLERANCE.rtol}·|ref|)`;
  Object.assign(out.dataset, { maxError: String(Math.max(r.maxAbsErrorOut, r.maxAbsErrorLse)), ok: String(r.ok) });
});

onClick('#run-time', async () => {
  const shape = shapeOf('large');
  const t = await timeForward(await webgpu(), modsFor(shape), shape);
  const out = $('#time-result');
  out.textContent = `forward [1, ${shape.H}, ${shape.L}, ${shape.D}]: ${t.ms.toFixed(2)} ms (median of 5, ${t.timer} timer), ${rate(t.tflops)} over the blocks kept`;
  out.dataset.ms = String(t.ms);
});

onClick('#run-readme', async () => {
  const out = $('#readme-output');
  out.textContent = '';
  const log = console.log;
  console.log = (...args: unknown[]) => {
    out.textContent += `${args.map(show).join(' ')}\n`;
    log(...args);
  };
  try {
    await import('virtual:readme-example');
  } finally {
    console.log = log;
  }
  out.dataset.done = 'true';
});

/** console.log's arguments as text: arrays and typed arrays by their numbers. */
function show(x: unknown): string {
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) return `[${Array.from(x as unknown as ArrayLike<number>).join(', ')}]`;
  if (Array.isArray(x)) return `[${x.map(show).join(', ')}]`;
  return typeof x === 'string' ? x : String(x);
}
