/**
 * The conformance suite as a plain async loop, for machines where vitest and node_modules are not
 * (a GPU machine running a bundled script): every case × dtype, forward and backward, against the
 * float64 reference, one `CONF PASS|FAIL …` line per check, errors caught per case so one broken
 * kernel does not hide the rest. Backends' device scripts call it; the vitest suite checks the same
 * things through `checkCase`.
 */
import type { FlexAttentionBackend } from '../kernel';
import { createReferenceBackend } from '../reference/backend';
import type { DType } from '../tensor';
import type { ConformanceOptions } from './conformance';
import { selectCases } from './cases';
import { checkCase, type ConformanceCheck, type ConformancePass, describeCheck } from './checks';

export interface ConformanceRunOptions extends ConformanceOptions {
  /** where lines go (default console.log); `label` prefixes every case name */
  log?: (line: string) => void;
  /**
   * Called before each case × dtype × pass runs: a device script can say what it is running, so a
   * run that hangs names its case (a GPU run once hung with no line to show where).
   */
  onStart?: (dtype: DType, caseName: string, pass: ConformancePass) => void;
}

export interface ConformanceRunRecord {
  label?: string;
  dtype: DType;
  pass: ConformancePass;
  caseName: string;
  check: ConformanceCheck;
  /** the backend threw instead of returning */
  error?: string;
}

export interface ConformanceRunResult {
  records: ConformanceRunRecord[];
  failures: number;
  seconds: number;
}

const figures = (c: ConformanceCheck) =>
  c.comparison ? ` ${JSON.stringify({ maxAbs: c.comparison.maxAbsError, maxRel: c.comparison.maxRelError, bad: c.comparison.mismatches || undefined })}` : '';

/** One line per check: `CONF PASS f32 forward out   <label: case> {maxAbs, maxRel}`; failures add the worst element. */
export function formatRunRecord(r: ConformanceRunRecord): string {
  const head = `CONF ${r.check.ok ? 'PASS' : 'FAIL'} ${r.dtype} ${r.pass.padEnd(8)} ${r.check.name.padEnd(6)} ${r.label ? `${r.label}: ` : ''}${r.caseName}`;
  if (r.error) return `${head}: threw ${r.error}`;
  return `${head}${figures(r.check)}${r.check.ok ? '' : ` | ${describeCheck(r.check)}`}`;
}

/** Runs the suite on `backend`; never throws for a failing or throwing case (they count as failures). */
export async function runConformance(backend: FlexAttentionBackend, opts: ConformanceRunOptions = {}): Promise<ConformanceRunResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const reference = createReferenceBackend();
  const cases = selectCases(opts);
  const passes: ConformancePass[] = opts.backward === false ? ['forward'] : ['forward', 'backward'];
  const records: ConformanceRunRecord[] = [];
  const t0 = Date.now();
  for (const dtype of opts.dtypes ?? ['f32']) {
    for (const c of cases) {
      for (const pass of passes) {
        let checks: ConformanceCheck[];
        let error: string | undefined;
        opts.onStart?.(dtype, opts.label ? `${opts.label}: ${c.name}` : c.name, pass);
        try {
          checks = await checkCase(backend, reference, c, dtype, pass, opts);
        } catch (e) {
          // the first lines of the message: compile logs can run to hundreds
          error = ((e as Error).message ?? String(e)).split('\n').slice(0, 12).join(' | ');
          checks = [{ name: 'run', ok: false, message: error }];
        }
        for (const check of checks) {
          const r: ConformanceRunRecord = { label: opts.label, dtype, pass, caseName: c.name, check, error };
          records.push(r);
          log(formatRunRecord(r));
        }
      }
    }
  }
  reference.dispose();
  return { records, failures: records.filter((r) => !r.check.ok).length, seconds: (Date.now() - t0) / 1000 };
}
