/**
 * Peers: other attention implementations timed on the same cases (`--peer torch,ort`). Each peer
 * returns its per-case times (or why it could not run a case); they are set beside every backend's
 * result as peer time / our time (above 1: we are faster).
 */
import type { CaseResult } from './runner';

export interface PeerCaseResult {
  fwdMs?: number;
  fwdBwdMs?: number;
  /** Why the peer did not run or time this case (an unsupported mod, a failed check…). */
  error?: string;
  /** How the peer ran it, where that differs from the case (dtype, layout…). */
  note?: string;
  /** The peer's own check against the reference, where it makes one. */
  maxAbsError?: number;
  maxRelError?: number;
}

export interface PeerRun {
  name: string;
  /** Versions and device, for the reports. */
  info?: string;
  /** Why the peer did not run at all. */
  error?: string;
  byId: Map<string, PeerCaseResult>;
}

/** One peer's numbers on one of our results. */
export interface PeerComparison extends PeerCaseResult {
  name: string;
  fwdRatio?: number;
  fwdBwdRatio?: number;
}

/** Sets each peer's case results beside every non-reference result that passed. */
export function attachPeers(results: CaseResult[], runs: readonly PeerRun[]): void {
  for (const r of results) {
    if (r.backend === 'reference' || r.status !== 'ok') continue;
    for (const run of runs) {
      const p = run.byId.get(r.case);
      if (!p) continue;
      const c: PeerComparison = { name: run.name, ...p };
      if (p.fwdMs && r.fwd) c.fwdRatio = p.fwdMs / r.fwd.median;
      if (p.fwdBwdMs && r.fwdBwd) c.fwdBwdRatio = p.fwdBwdMs / r.fwdBwd.median;
      (r.peers ??= []).push(c);
    }
  }
}

/** A short text for tables: `torch fwd 0.68 ms 0.75×; ort: no equivalent of alibi`. */
export function peerText(peers: readonly PeerComparison[] | undefined, fmt: (x: number | undefined) => string, maxError = 60): string {
  if (!peers?.length) return '—';
  return peers
    .map((p) => {
      if (p.error) return `${p.name}: ${p.error.length > maxError ? `${p.error.slice(0, maxError - 1)}…` : p.error}`;
      const parts = [p.fwdMs !== undefined && `fwd ${fmt(p.fwdMs)} ms${p.fwdRatio ? ` ${fmt(p.fwdRatio)}×` : ''}`, p.fwdBwdMs !== undefined && `f+b ${fmt(p.fwdBwdMs)} ms${p.fwdBwdRatio ? ` ${fmt(p.fwdBwdRatio)}×` : ''}`].filter(Boolean);
      return `${p.name} ${parts.join(', ') || '—'}`;
    })
    .join('; ');
}
