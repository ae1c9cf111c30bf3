import fc from 'fast-check';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { closestName, parseCli, UsageError } from './cli-options';
import { MODS } from './cases';

const BACKENDS = ['reference', 'webgpu', 'cuda'];

/** Parses like the command; returns the exit code and what the program wrote (0 and the options on success). */
function parse(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  try {
    const parsed = parseCli(argv, BACKENDS, { out: (s) => out.push(s), err: (s) => err.push(s) });
    return { code: 0, parsed, out: out.join('\n'), err: err.join('\n') };
  } catch (e) {
    if (e instanceof CommanderError) return { code: e.exitCode, out: out.join('\n'), err: err.join('\n') };
    if (e instanceof UsageError) return { code: 2, out: out.join('\n'), err: e.message };
    throw e;
  }
}

describe('flexattn-bench flags', () => {
  // each bad flag: exit 2, and a message naming the flag and what it accepts (or the closest name)
  it.each([
    [['--iterations', 'abc'], /--iterations <n>' argument 'abc' is invalid\. Expected an integer ≥ 1/],
    [['--iterations', '0'], /--iterations <n>' argument '0' is invalid\. Expected an integer ≥ 1/],
    [['--iterations', '2.5'], /--iterations <n>' argument '2\.5' is invalid/],
    [['--iterations', '1e3'], /--iterations <n>' argument '1e3' is invalid/],
    [['--iterations', ''], /--iterations <n>' argument '' is invalid/],
    [['--warmup', 'five'], /--warmup <n>' argument 'five' is invalid\. Expected an integer ≥ 0/],
    [['--mods', 'nosuchmod'], /--mods <list>' argument 'nosuchmod' is invalid\. Unknown mod 'nosuchmod'; known: noop, causal, alibi/],
    [['--mods', 'causal,cuasal'], /Unknown mod 'cuasal' \(did you mean 'causal'\?\)/],
    [['--mods', 'causal,'], /--mods .*no empty entries/],
    [['--mods', 'chunked_1024'], /--mods: chunked_1024 is not in the quick suite; its mods: noop, causal, alibi, softcap, document \(--suite full has every mod\)/],
    [['--suite', 'decode', '--mods', 'causal'], /--mods: causal is not in the decode suite; its mods: noop/],
    [['--shapes', 'L9999'], /--shapes: 'L9999' matches no case of the quick suite; its shapes: B1 H2 L256 D64; B1 H4\/1 L1x1024 D64/],
    [['--suite', 'qiuck'], /--suite <name>' argument 'qiuck' is invalid\. Allowed choices are quick, blog, full, decode/],
    [['--pass', 'forward'], /--pass <pass>' argument 'forward' is invalid\. Allowed choices are fwd, bwd, both/],
    [['--dtype', 'fp16'], /--dtype <dtype>' argument 'fp16' is invalid\. Allowed choices are f32, f16, bf16/],
    [['--block-size', '0'], /--block-size <size>' argument '0' is invalid\. Expected N or QxKV/],
    [['--block-size', '64y32'], /--block-size <size>' argument '64y32' is invalid/],
    [['--backends', 'webgpuu'], /--backends <list>' argument 'webgpuu' is invalid\. Unknown backend 'webgpuu' \(did you mean 'webgpu'\?\); known: reference, webgpu, cuda/],
    [['--peer', 'torhc'], /--peer <list>' argument 'torhc' is invalid\. Unknown peer 'torhc' \(did you mean 'torch'\?\); known: torch, ort/],
    [['--json', '/no/such/folder/r.json'], /--json <file>' argument '\/no\/such\/folder\/r\.json' is invalid\. Folder \/no\/such\/folder does not exist/],
    [['--html', '/'], /--html <file>' argument '\/' is invalid\. \/ is a folder/],
    [['--backend-options', '{cuda'], /--backend-options <json>' argument '\{cuda' is invalid\. Expected JSON/],
    [['--backend-options', '{"cuda":true}'], /Expected backend names mapped to option objects/],
    [['--backends', 'reference', '--backend-options', '{"cuda":{}}'], /--backend-options names cuda, not among the backends run \(reference\)/],
    [['--iteratons', '5'], /unknown option '--iteratons'[\s\S]*Did you mean --iterations\?/],
    [['--version2'], /unknown option '--version2'/],
    [['quick'], /too many arguments.*Expected 0 arguments but got 1/],
    [['--suite'], /option '--suite <name>' argument missing/],
  ])('%j exits 2 naming the flag', (argv, message) => {
    const r = parse(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('--iterations and --warmup take exactly the decimal integers in range, whatever else is typed', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer({ min: -5, max: 10 ** 9 }).map(String), fc.double().map(String)), fc.constantFrom('--iterations', '--warmup'), (text, flag) => {
        const r = parse([flag, text]);
        const min = flag === '--iterations' ? 1 : 0;
        // counts beyond 2^53 cannot be represented exactly: they are rejected too
        const valid = /^\d+$/.test(text) && Number(text) >= min && Number.isSafeInteger(Number(text));
        expect(r.code).toBe(valid ? 0 : 2);
        if (valid) expect(flag === '--iterations' ? r.parsed!.options.iterations : r.parsed!.options.warmup).toBe(Number(text));
      }),
      { numRuns: 200 },
    );
  });

  it('suggests the closest name only for a likely typo', () => {
    const mods = Object.keys(MODS);
    expect(closestName('cusal', mods)).toBe('causal');
    expect(closestName('Softcap', mods)).toBe('softcap');
    expect(closestName('sliding_window', mods)).toBe(undefined);
    expect(closestName('xyz', mods)).toBe(undefined);
  });

  it('--version prints the package version; --help lists every flag', async () => {
    const { default: pkg } = await import('../package.json', { with: { type: 'json' } });
    const version = parse(['--version']);
    expect(version).toMatchObject({ code: 0, out: `flexattn-bench ${pkg.version}` });
    expect(parse(['-V']).out).toBe(version.out);
    const help = parse(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--backends', '--suite', '--mods', '--shapes', '--dtype', '--pass', '--block-size', '--iterations', '--warmup', '--json', '--html', '--peer', '--no-block-masks', '--backend-options', '--no-color', '--version'])
      expect(help.out).toContain(flag);
  });

  it('--shapes D256 selects the full suite\'s head-dim-256 shape, and the anchor lengths do not', () => {
    const ids = (shapes: string) => parse(['--suite', 'full', '--dtype', 'bf16', '--mods', 'noop,causal', '--shapes', shapes]).parsed!.cases.map((c) => c.id);
    expect(ids('D256')).toEqual(['noop B1 H8 L16384 D256 bf16', 'causal B1 H8 L16384 D256 bf16']);
    expect(ids('L8192')).toEqual(['noop B2 H16 L8192 D128 bf16', 'causal B2 H16 L8192 D128 bf16']);
    expect(ids('L4096')).toEqual(['noop B4 H16 L4096 D64 bf16', 'causal B4 H16 L4096 D64 bf16']);
  });
  it('good flags give the options and the cases they select', () => {
    const r = parse(['--suite', 'quick', '--mods', 'causal,document,causal', '--shapes', 'L256', '--block-size', '64x32', '--pass', 'both', '--iterations', '3', '--warmup', '0', '--peer', 'ort', '--no-block-masks', '--no-color']);
    expect(r.code).toBe(0);
    expect(r.parsed!.options).toMatchObject({ suite: 'quick', pass: 'both', iterations: 3, warmup: 0, peers: ['ort'], blockMasks: false, color: false, backendOptions: {} });
    expect(r.parsed!.cases.map((c) => c.id)).toEqual(['causal B1 H2 L256 D64 f32 block 64x32', 'document B1 H2 L256 D64 f32 block 64x32']);
    expect(r.parsed!.cases.every((c) => c.blockSize?.join('x') === '64x32')).toBe(true);
    const defaults = parse([]).parsed!.options;
    expect(defaults).toMatchObject({ suite: 'quick', pass: 'fwd', iterations: 20, warmup: 5, peers: [], blockMasks: true, color: undefined, backends: undefined });
  });
});
