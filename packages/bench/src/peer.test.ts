import { describe, expect, it } from 'vitest';
import { attachPeers, peerText, type PeerRun } from './peer';
import { renderHtml } from './report/html';
import { renderTerminal } from './report/terminal';
import type { CaseResult } from './runner';
import { stats } from './stats';

const result = (backend: string, c: string, fwdMs: number, status: CaseResult['status'] = 'ok'): CaseResult => ({
  case: c, mod: c.split(' ')[0]!, shape: 'B1 H2 L256 D64', dtype: 'f32', kind: 'attention', backend, status, density: 1, fwd: stats([fwdMs]),
});

describe('peers beside our results', () => {
  const runs: PeerRun[] = [
    { name: 'torch', byId: new Map([['noop x', { fwdMs: 1, fwdBwdMs: 3 }], ['alibi x', { fwdMs: 4 }]]) },
    { name: 'ort', byId: new Map([['noop x', { fwdMs: 8, note: 'f32 (case bf16)', maxAbsError: 1e-7 }], ['alibi x', { error: 'onnxruntime-web has no equivalent of alibi' }]]) },
  ];

  it('sets every peer on each passing non-reference result, with peer/our ratios', () => {
    const results = [result('reference', 'noop x', 100), result('webgpu', 'noop x', 2), result('webgpu', 'alibi x', 2), result('cuda', 'alibi x', 1, 'failed')];
    attachPeers(results, runs);
    expect(results[0]!.peers).toBeUndefined();
    expect(results[3]!.peers).toBeUndefined();
    expect(results[1]!.peers).toEqual([
      { name: 'torch', fwdMs: 1, fwdBwdMs: 3, fwdRatio: 0.5 },
      { name: 'ort', fwdMs: 8, fwdRatio: 4, note: 'f32 (case bf16)', maxAbsError: 1e-7 },
    ]);
    expect(peerText(results[2]!.peers, (x) => String(x))).toBe('torch fwd 4 ms 2×; ort: onnxruntime-web has no equivalent of alibi');
    expect(peerText(results[2]!.peers, (x) => String(x), 20)).toBe('torch fwd 4 ms 2×; ort: onnxruntime-web has…');
    expect(peerText(undefined, String)).toBe('—');
  });

  it('shows them in the terminal table and the HTML report (escaped), with a ratio chart per peer', () => {
    const results = [result('webgpu', 'noop x', 2), result('webgpu', 'alibi x', 2)];
    attachPeers(results, [...runs, { name: 'evil', byId: new Map([['noop x', { error: '<script>' }]]) }]);
    expect(renderTerminal(results, [])).toMatch(/torch fwd 1\.00 ms 0\.500×, f\+b 3\.00 ms; ort fwd 8\.00 ms 4\.00×; evil: <script>/);
    const html = renderHtml({ date: 'd', commit: 'c', node: 'n', suite: 's', pass: 'fwd', backends: [], unavailable: [], results, blockMasks: [], peers: [{ name: 'ort', info: 'onnxruntime-web 1.30.0' }, { name: 'torch', error: 'no <CUDA>' }] });
    expect(html).toContain('webgpu vs torch, forward');
    expect(html).toContain('webgpu vs ort, forward');
    expect(html).toContain('<small>(f32 (case bf16))</small>');
    expect(html).toContain('<dt>peer torch</dt><dd><b>not run</b><pre class="reason">no &lt;CUDA&gt;</pre></dd>');
    expect(html).toContain('evil: &lt;script&gt;');
    expect(html).not.toContain('<script>');
  });
});
