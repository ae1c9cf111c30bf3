#!/usr/bin/env node
/**
 * flexattn-bench: every backend against the reference on the same cases — correctness first, then
 * speed — as a terminal table, JSON and an HTML report. Exit status: 0 every result correct, 1 a
 * backend computed a wrong result, 2 a bad flag or a requested backend unavailable, 3 the run broke.
 */
import { writeFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import pc from 'picocolors';
import { type BackendFactory, dawnFromEnv, FACTORIES, loadBackends } from './backends';
import { type ParsedCli, parseCli, UsageError } from './cli-options';
import { attachPeers, type PeerRun } from './peer';
import { ortTarget, runOrtPeer } from './peer-ort';
import { runTorchPeer } from './peer-torch';
import { renderHtml } from './report/html';
import { benchmarksDir, reportStem } from './report/save';
import { type BenchReport, gitCommit } from './report/json';
import { renderTerminal } from './report/terminal';
import { type ProgressStream, progressLine } from './progress';
import { runBlockMaskCases, runCases } from './runner';

/** Where the command writes; tests pass their own. */
export interface CliIo {
  /** Results and help (stdout). */
  log(line: string): void;
  /** Usage errors (stderr). */
  error(line: string): void;
  /** The progress line with its ETA (stderr), or null for none. */
  progress: ProgressStream | null;
  /** Colour when neither --color nor --no-color is given. */
  color: boolean;
}

const consoleIo = (): CliIo => ({ log: (s) => console.log(s), error: (s) => console.error(s), progress: process.stderr, color: pc.isColorSupported });

/**
 * loadBackends keeps a failure's first lines joined with ` | `; the reports show the whole reason,
 * one line per line, so the factories' own errors are kept here.
 */
function keepingReasons(factories: Record<string, BackendFactory>) {
  const reasons = new Map<string, string>();
  const wrapped = Object.fromEntries(
    Object.entries(factories).map(([name, create]): [string, BackendFactory] => [
      name,
      async (options) => {
        try {
          return await create(options);
        } catch (err) {
          reasons.set(name, err instanceof Error ? err.message : String(err));
          throw err;
        }
      },
    ]),
  );
  return { wrapped, reasons };
}

const indent = (text: string) => text.split('\n').map((l) => `    ${l}`).join('\n');

export async function main(argv: string[], factories: Record<string, BackendFactory> = FACTORIES, io: Partial<CliIo> = {}): Promise<number> {
  const { log, error, progress, color: autoColor } = { ...consoleIo(), ...io };
  let parsed: ParsedCli;
  const errorColors = pc.createColors(autoColor);
  try {
    parsed = parseCli(argv, Object.keys(factories), { out: log, err: (s) => error(errorColors.red(s)) });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander wrote the help, version or error
    if (err instanceof UsageError) {
      error(errorColors.red(`error: ${err.message}`));
      return 2;
    }
    throw err;
  }
  const { options, cases } = parsed;
  const c = pc.createColors(options.color ?? autoColor);

  const { wrapped, reasons } = keepingReasons(factories);
  const loaded = await loadBackends(options.backends ?? Object.keys(factories), wrapped, options.backendOptions);
  for (const b of loaded) {
    if (b.backend) log(`backend ${b.name}: ${b.device ?? 'ready'}`);
    else log(`${c.yellow(`backend ${b.name}: not available`)}\n${indent(reasons.get(b.name) ?? b.reason ?? 'no reason given')}`);
  }
  const live = loaded.filter((b) => b.backend);
  const missing = loaded.filter((b) => !b.backend).map((b) => b.name);
  if (options.backends && missing.length) {
    error(c.red(`error: --backends names ${missing.join(', ')}, not available here (reasons above); leave it out of --backends to run the others`));
    return 2;
  }

  const onProgress = progress ? progressLine(progress) : undefined;
  const timing = { pass: options.pass, warmup: options.warmup, iterations: options.iterations, onProgress };
  const results = await runCases(cases, live, timing);

  const peerRuns: PeerRun[] = [];
  for (const name of options.peers) {
    const run =
      name === 'torch'
        ? runTorchPeer(cases, options.pass)
        : await runOrtPeer(cases, () => ortTarget(live.find((b) => b.name === 'webgpu')?.backend, dawnFromEnv), timing);
    peerRuns.push(run);
    log(run.error ? `${c.yellow(`peer ${name}: not run`)}\n${indent(run.error)}` : `peer ${name}: ${run.info ?? 'ran'}`);
    const wrong = [...run.byId].filter(([, p]) => p.error?.startsWith('out of tolerance'));
    if (wrong.length) log(c.red(`peer ${name}: WRONG on ${wrong.length} case(s), not timed:\n${wrong.map(([id, p]) => indent(`${id}: ${p.error}`)).join('\n')}`));
  }
  attachPeers(results, peerRuns);

  const blockMasks = options.blockMasks ? runBlockMaskCases(cases) : [];
  const report: BenchReport = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    suite: options.suite,
    pass: options.pass,
    backends: live.map((b) => ({ name: b.name, device: b.device })),
    unavailable: loaded.filter((b) => !b.backend).map((b) => ({ name: b.name, reason: reasons.get(b.name) ?? b.reason ?? '' })),
    results,
    blockMasks,
    peers: peerRuns.length ? peerRuns.map((p) => ({ name: p.name, info: p.info, error: p.error })) : undefined,
  };
  log(renderTerminal(results, blockMasks, c));
  if (options.json) {
    writeFileSync(options.json, JSON.stringify(report, null, 1));
    log(`wrote ${options.json}`);
  }
  if (options.html) {
    writeFileSync(options.html, renderHtml(report));
    log(`wrote ${options.html}`);
  }
  if (options.save) {
    const stem = reportStem(benchmarksDir(), report.date, options.suite, report.backends.map((b) => b.name));
    writeFileSync(`${stem}.json`, JSON.stringify(report, null, 1));
    writeFileSync(`${stem}.html`, renderHtml(report));
    writeFileSync(`${stem}.txt`, `${renderTerminal(results, blockMasks)}\n`);
    log(`wrote ${stem}.json, .html, .txt`);
  }
  for (const b of live) b.backend!.dispose();
  const bad = results.filter((r) => r.status !== 'ok');
  if (bad.length) {
    log(c.red(c.bold(`\n${bad.length} result(s) failed:`)));
    for (const r of bad) log(c.red(`  ${r.backend} on ${r.case}:\n${indent(r.error ?? r.status)}`));
    return 1;
  }
  return 0;
}

const invokedDirectly = process.argv[1] && /cli\.(js|ts|mjs)$|flexattn-bench/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      // the run itself broke (a backend crashing mid-run, a report that cannot be written): exit 3
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(3);
    },
  );
}
