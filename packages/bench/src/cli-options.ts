/**
 * flexattn-bench's command line. Every flag is declared once here — help text, parser, accepted
 * values — and every bad value is rejected before a backend loads, with a message naming the flag and
 * what it accepts or the closest known name (exit 2): a typo must not run a 20-minute benchmark of
 * the wrong thing, or of nothing.
 *
 * Commander rather than util.parseArgs: it brings `--version`, generated `--help`, choice lists,
 * per-flag value parsers and "did you mean" for unknown flags; parseArgs has none of these.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import leven from 'leven';
import pkg from '../package.json' with { type: 'json' };
import { type BenchCase, MODS, shapeText, SUITES, type Suite, suiteCases } from './cases';
import type { DType } from './deps';

export const VERSION: string = pkg.version;
export const PASSES = ['fwd', 'bwd', 'both'] as const;
export const DTYPES = ['f32', 'f16', 'bf16'] as const;
export const PEERS = ['torch', 'ort'] as const;

export type Pass = (typeof PASSES)[number];
export type PeerName = (typeof PEERS)[number];

export interface BenchOptions {
  /** Named with --backends (each must load), else undefined: every backend that loads. */
  backends?: string[];
  suite: Suite;
  pass: Pass;
  dtype?: DType;
  iterations: number;
  warmup: number;
  json?: string;
  html?: string;
  /** --save: the reports and the table as dated files in the repo's benchmarks/ folder */
  save: boolean;
  peers: PeerName[];
  blockMasks: boolean;
  backendOptions: Record<string, Record<string, unknown>>;
  /** --color / --no-color; undefined: decide from the terminal. */
  color?: boolean;
}

/** A usage error: the message names the flag; the process exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `known`'s closest name to `name`, when it is close enough to be a likely typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = leven(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** `Unknown mod 'cuasal' (did you mean 'causal'?); known: …` */
export function unknownNameMessage(what: string, name: string, known: readonly string[]): string {
  const guess = closestName(name, known);
  return `Unknown ${what} '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}; known: ${known.join(', ')}`;
}

const positiveInt = (min: number) => (text: string): number => {
  // digits only: Number('') is 0, Number('1e3') is 1000 and parseInt('12abc') is 12 — all typos here
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text)))
    throw new InvalidArgumentError(`Expected an integer ≥ ${min}.`);
  return Number(text);
};

const nameList = (what: string, known: () => readonly string[]) => (text: string): string[] => {
  const names = text.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new InvalidArgumentError(`Expected a comma-separated list of ${what}s with no empty entries; known: ${known().join(', ')}.`);
  for (const n of names) if (!known().includes(n)) throw new InvalidArgumentError(`${unknownNameMessage(what, n, known())}.`);
  return [...new Set(names)];
};

const blockSize = (text: string): [number, number] => {
  const m = /^(\d+)(?:x(\d+))?$/.exec(text);
  const bs: [number, number] | undefined = m ? [Number(m[1]), Number(m[2] ?? m[1])] : undefined;
  if (!bs || !bs.every((n) => n > 0)) throw new InvalidArgumentError('Expected N or QxKV with positive integers, e.g. 128 or 64x32.');
  return bs;
};

/** A report file: its folder must exist now, not after the run. */
const outputFile = (text: string): string => {
  const folder = dirname(resolve(text));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new InvalidArgumentError(`Folder ${folder} does not exist.`);
  if (existsSync(text) && statSync(text).isDirectory()) throw new InvalidArgumentError(`${text} is a folder; give a file name.`);
  return text;
};

/** `--backend-options`: a JSON object of objects, one per backend name. */
export function parseBackendOptions(text: string): Record<string, Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`Expected JSON, e.g. '{"cuda":{"hopperForward":"per-cta"}}' (${err instanceof Error ? err.message : String(err)}).`);
  }
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObject(parsed) || !Object.values(parsed).every(isObject))
    throw new InvalidArgumentError(`Expected backend names mapped to option objects, e.g. '{"webgpu":{"timestamps":false}}'.`);
  return parsed as Record<string, Record<string, unknown>>;
}

/** The program: flags, help and version. `backendNames` are the backends this build knows. */
export function benchProgram(backendNames: readonly string[]): Command {
  const modNames = () => Object.keys(MODS);
  return new Command('flexattn-bench')
    .description('Every flexattn backend against the float64 reference on the same cases: correctness first, then speed.')
    .version(`flexattn-bench ${VERSION}`, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .addOption(new Option('--backends <list>', `backends to run, comma-separated (default: every backend that loads here; named ones must load)`).argParser(nameList('backend', () => backendNames)))
    .addOption(new Option('--suite <name>', 'quick: CI-sized; blog: the anchor shapes; full: every mod × 3 shapes × 3 dtypes; decode; decode-paged: ragged decode, paged vs contiguous').choices(SUITES).default('quick'))
    .addOption(new Option('--mods <list>', 'only these mods, comma-separated (each must be in the suite)').argParser(nameList('mod', modNames)))
    .addOption(new Option('--shapes <list>', 'only cases whose shape contains one of these, e.g. L4096,D128 (each must match a case)'))
    .addOption(new Option('--dtype <dtype>', 'element type (default: per suite)').choices(DTYPES))
    .addOption(new Option('--pass <pass>', 'bwd and both also check and time forward+backward').choices(PASSES).default('fwd'))
    .addOption(new Option('--block-size <size>', "the BlockMask's block size, N or QxKV (default 128)").argParser(blockSize))
    .addOption(new Option('--iterations <n>', 'timed runs per case').argParser(positiveInt(1)).default(20))
    .addOption(new Option('--warmup <n>', 'untimed runs before them').argParser(positiveInt(0)).default(5))
    .addOption(new Option('--json <file>', 'write the JSON report').argParser(outputFile))
    .addOption(new Option('--html <file>', 'write the HTML report').argParser(outputFile))
    .addOption(new Option('--save', "write the reports and the table to the repo's benchmarks/ folder as dated files ($FLEXATTN_BENCHMARKS_DIR overrides)").default(false))
    .addOption(
      new Option('--peer <list>', 'also time peers: torch = PyTorch FlexAttention (python3 + CUDA); ort = onnxruntime-web on the same Dawn device').argParser(nameList('peer', () => PEERS)),
    )
    .addOption(new Option('--no-block-masks', 'skip the createBlockMask timings'))
    .addOption(new Option('--backend-options <json>', `create options per backend, e.g. '{"cuda":{"hopperForward":"per-cta"}}'`).argParser(parseBackendOptions))
    .addOption(new Option('--color', 'colour the terminal output (default: when the terminal supports it; NO_COLOR turns it off)'))
    .addOption(new Option('--no-color', 'no colour'))
    .addHelpText('after', `
Exit status: 0 every result correct; 1 a backend computed a wrong result; 2 a bad flag, or a backend
named in --backends is not available; 3 the run broke.

Examples:
  flexattn-bench --suite quick --backends reference,webgpu --pass both --html report.html
  flexattn-bench --suite blog --backends cuda --peer torch --json blog.json`)
    .allowExcessArguments(false)
    .exitOverride();
}

export interface ParsedCli {
  options: BenchOptions;
  cases: BenchCase[];
}

interface RawOptions {
  backends?: string[];
  suite: Suite;
  mods?: string[];
  shapes?: string;
  dtype?: DType;
  pass: Pass;
  blockSize?: [number, number];
  iterations: number;
  warmup: number;
  json?: string;
  html?: string;
  save: boolean;
  peer?: PeerName[];
  blockMasks: boolean;
  backendOptions?: Record<string, Record<string, unknown>>;
  color?: boolean;
}

export interface CliOutput {
  /** Help and version text. */
  out(text: string): void;
  /** Usage errors. */
  err(text: string): void;
}

/**
 * Parses `argv` (without node and the script) for a build that knows `backendNames`. Throws
 * CommanderError for --help and --version (exitCode 0) and for bad flags (exitCode 2), after the
 * program has written its message to `output`; the checks that span flags (a mod not in the suite, a
 * shape that selects nothing, options for a backend not run) throw UsageError.
 */
export function parseCli(argv: readonly string[], backendNames: readonly string[], output: CliOutput): ParsedCli {
  const program = benchProgram(backendNames).configureOutput({ writeOut: (s) => output.out(s.trimEnd()), writeErr: (s) => output.err(s.trimEnd()) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    // commander exits 1 on usage errors; this command's are 2 (1 means a backend computed a wrong result)
    if (err instanceof CommanderError && err.exitCode !== 0) throw new CommanderError(2, err.code, err.message);
    throw err;
  }
  const raw = program.opts<RawOptions>();
  const options: BenchOptions = {
    backends: raw.backends,
    suite: raw.suite,
    pass: raw.pass,
    dtype: raw.dtype,
    iterations: raw.iterations,
    warmup: raw.warmup,
    json: raw.json,
    html: raw.html,
    save: raw.save,
    peers: raw.peer ?? [],
    blockMasks: raw.blockMasks,
    backendOptions: raw.backendOptions ?? {},
    color: raw.color,
  };
  const run = options.backends ?? backendNames;
  const stray = Object.keys(options.backendOptions).filter((k) => !run.includes(k));
  if (stray.length) throw new UsageError(`--backend-options names ${stray.join(', ')}, not among the backends run (${run.join(', ')})`);
  return { options, cases: selectCases(raw) };
}

/** The suite's cases, narrowed by --mods, --shapes and --block-size; a filter that selects nothing is an error. */
function selectCases(raw: RawOptions): BenchCase[] {
  let cases = suiteCases(raw.suite, raw.dtype);
  if (raw.mods) {
    const inSuite = [...new Set(cases.map((c) => c.mod))];
    const missing = raw.mods.filter((m) => !inSuite.includes(m));
    if (missing.length)
      throw new UsageError(`--mods: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not in the ${raw.suite} suite; its mods: ${inSuite.join(', ')} (--suite full has every mod)`);
    cases = cases.filter((c) => raw.mods!.includes(c.mod));
  }
  if (raw.shapes) {
    const wanted = raw.shapes.split(',').map((s) => s.trim());
    const shapes = [...new Set(cases.map((c) => shapeText(c.shape)))];
    const unmatched = wanted.filter((w) => w === '' || !cases.some((c) => c.id.includes(w)));
    if (unmatched.length) throw new UsageError(`--shapes: ${unmatched.map((w) => `'${w}'`).join(', ')} matches no case of the ${raw.suite} suite${raw.mods ? ' and --mods' : ''}; its shapes: ${shapes.join('; ')}`);
    cases = cases.filter((c) => wanted.some((w) => c.id.includes(w)));
  }
  if (raw.blockSize) {
    const bs = raw.blockSize;
    cases = cases.map((c) => ({ ...c, blockSize: bs, id: `${c.id} block ${bs.join('x')}` }));
  }
  return cases;
}
