/**
 * `--peer torch`: the same cases through PyTorch's flex_attention in a python3 subprocess, where
 * python3 with PyTorch ≥ 2.5 and a CUDA GPU exist (the device machine). The peer gets flexattn's own
 * document ids, so both sides run the same masks.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchCase, documentIds } from './cases';
import type { PeerRun } from './peer';

function findScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [process.env.FLEXATTN_TORCH_PEER, join(here, '../peer/torch_peer.py'), join(here, 'peer/torch_peer.py'), join(here, 'torch_peer.py')];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export function runTorchPeer(cases: readonly BenchCase[], pass: string): PeerRun {
  const name = 'torch';
  const script = findScript();
  const python = process.env.PYTHON ?? 'python3';
  if (!script) return { name, error: 'torch_peer.py not found (set FLEXATTN_TORCH_PEER)', byId: new Map() };
  const check = spawnSync(python, ['-c', 'import torch,sys; from torch.nn.attention.flex_attention import flex_attention; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (check.error || check.status !== 0) {
    return { name, error: check.status === 3 ? 'PyTorch has no CUDA GPU here' : `python3 with PyTorch ≥ 2.5 (flex_attention) not found: ${(check.stderr || String(check.error)).trim().split('\n').pop()}`, byId: new Map() };
  }
  const payload = cases.map((c) => ({
    id: c.id, mod: c.mod, dtype: c.dtype, pass, ...c.shape,
    docIds: c.mod === 'document' ? Array.from(documentIds(c.shape.Lkv)) : undefined,
    // Ragged decode (decode-paged): the sequences' lengths, their storage, the page / block size.
    lengths: c.lengths, layout: c.layout, pageSize: c.lengths ? (c.blockSize?.[1] ?? 128) : undefined,
  }));
  const r = spawnSync(python, [script], { input: JSON.stringify(payload), encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['pipe', 'pipe', 'inherit'] });
  if (r.status !== 0) return { name, error: `torch peer exited with ${r.status}`, byId: new Map() };
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop()!) as { info: string; results: { id: string; fwd_ms?: number; fwdbwd_ms?: number; error?: string }[] };
  return { name, info: parsed.info, byId: new Map(parsed.results.map((x) => [x.id, { fwdMs: x.fwd_ms, fwdBwdMs: x.fwdbwd_ms, error: x.error }])) };
}
