/**
 * Strict options: every name and value a user passes to flexAttention / flexAttentionBackward is
 * checked here, before any GPU work, so a typo (`retrunLse`), an option we do not have
 * (`kernelOptions`, `dropoutP`) or a value of the wrong type is a typed OptionError naming the
 * closest known option — never silently ignored. Options that only some backends implement
 * (dLse, returnAux.maxScores) are rejected with an UnsupportedError by backends that do not declare
 * them, naming the reference backend as the one that does.
 */
import { closestMatch } from 'leven';
import { OptionError, UnsupportedError } from './errors';

/** Optional capabilities a backend declares on `FlexAttentionBackend.features`. */
export type BackendFeature = 'dLse' | 'maxScores';

export type AttentionPass = 'forward' | 'backward';

/** The names of FlexAttentionOptions (both passes) and what each must hold. */
const OPTION_RULES: Record<string, { want: string; ok: (v: unknown) => boolean }> = {
  scoreMod: { want: 'a score mod function (score, b, h, q, kv) => Expr or a TracedMod', ok: (v) => typeof v === 'function' || isObject(v) },
  // the block mask's own validator (validate-mask.ts) says precisely what is wrong with one
  blockMask: { want: 'a BlockMask from createBlockMask(maskMod, { qLen, kvLen })', ok: () => true },
  scale: { want: 'a finite number (any sign; default 1/sqrt(E))', ok: (v) => typeof v === 'number' && Number.isFinite(v) },
  enableGqa: { want: 'a boolean', ok: (v) => typeof v === 'boolean' },
  returnLse: { want: 'a boolean', ok: (v) => typeof v === 'boolean' },
  returnAux: { want: 'an object { lse?: boolean, maxScores?: boolean }', ok: (v) => isObject(v) },
};
/** Only flexAttentionBackward takes these. */
const BACKWARD_RULES: Record<string, { want: string; ok: (v: unknown) => boolean }> = {
  dLse: { want: 'a tensor [B, Hq, Lq] of f32: the gradient of the loss w.r.t. the returned lse', ok: (v) => isObject(v) },
};
const AUX_NAMES = ['lse', 'maxScores'] as const;

/** Names users coming from PyTorch reach for, with where that need is met here. */
const NOT_OPTIONS: Record<string, string> = {
  kernelOptions: 'flexattn picks tiles itself; backend settings go to the backend factory (createWebGPUBackend / createCudaBackend options)',
  dropoutP: 'flex_attention has no dropout; apply it to the output, or as a score mod with a captured random tensor',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `return_lse` → `returnLse`: PyTorch's spelling maps to ours before the distance is measured. */
const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** " Did you mean 'x'?" for the known name closest to `name`, or the list of known names. */
export function suggestName(name: string, known: readonly string[]): string {
  const exact = known.find((k) => k.toLowerCase() === camel(name).toLowerCase());
  // a third of the name's length in edits, at least 2: 'retrunLse' → 'returnLse', not 'x' → 'scale'
  const near = exact ?? closestMatch(camel(name), known, { maxDistance: Math.max(2, Math.floor(name.length / 3)) });
  return near ? ` Did you mean '${near}'?` : ` Known options: ${known.join(', ')}.`;
}

const describeValue = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`;

/**
 * Checks option names and value types for `pass`. Throws OptionError for an unknown name (with the
 * closest known one), a wrong type or an out-of-range value.
 */
export function checkOptionValues(options: unknown, pass: AttentionPass): void {
  if (options === undefined) return;
  const fn = pass === 'forward' ? 'flexAttention' : 'flexAttentionBackward';
  if (!isObject(options)) throw new OptionError(`${fn}: options must be an object, got ${describeValue(options)}`);
  const rules = pass === 'forward' ? OPTION_RULES : { ...OPTION_RULES, ...BACKWARD_RULES };
  for (const [name, value] of Object.entries(options)) {
    const rule = rules[name];
    if (!rule) {
      if (name in BACKWARD_RULES) throw new OptionError(`${fn}: '${name}' is an option of flexAttentionBackward, not of the forward pass`);
      const why = NOT_OPTIONS[camel(name)];
      if (why) throw new OptionError(`${fn}: unknown option '${name}': ${why}.`);
      throw new OptionError(`${fn}: unknown option '${name}'.${suggestName(name, Object.keys(rules))}`);
    }
    // undefined means "not given", as with every optional field in TypeScript
    if (value !== undefined && !rule.ok(value)) throw new OptionError(`${fn}: option '${name}' must be ${rule.want}; got ${describeValue(value)}`);
  }
  const aux = options.returnAux;
  if (isObject(aux)) {
    for (const [name, value] of Object.entries(aux)) {
      if (!(AUX_NAMES as readonly string[]).includes(name)) throw new OptionError(`${fn}: unknown returnAux field '${name}'.${suggestName(name, AUX_NAMES).replace('Known options', 'Known fields')}`);
      if (value !== undefined && typeof value !== 'boolean') throw new OptionError(`${fn}: returnAux.${name} must be a boolean; got ${describeValue(value)}`);
    }
  }
}

/** The optional features these options ask for. */
export function requestedFeatures(options: { returnAux?: { lse?: boolean; maxScores?: boolean }; dLse?: unknown } | undefined): BackendFeature[] {
  const wanted: BackendFeature[] = [];
  if (options?.dLse !== undefined) wanted.push('dLse');
  if (options?.returnAux?.maxScores) wanted.push('maxScores');
  return wanted;
}

const FEATURE_OPTION: Record<BackendFeature, string> = { dLse: 'the dLse option (gradient through lse)', maxScores: 'returnAux.maxScores' };

/**
 * Rejects options that need a feature `backend` does not declare: an UnsupportedError naming the
 * reference backend, which implements them all, instead of a result that silently ignores them.
 */
export function checkFeatures(backend: { name: string; features?: readonly BackendFeature[] } | undefined, options: Parameters<typeof requestedFeatures>[0]): void {
  for (const f of requestedFeatures(options)) {
    if (backend?.features?.includes(f)) continue;
    const who = backend ? `the ${backend.name} backend` : 'this backend';
    throw new UnsupportedError(`${who} does not implement ${FEATURE_OPTION[f]} yet; the reference backend (createReferenceBackend from '@flexattn/ir/reference') does`);
  }
}
