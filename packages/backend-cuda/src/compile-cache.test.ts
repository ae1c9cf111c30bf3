// The compile cache with a fake compiler: memory, then disk, then compile; a second cache on the
// same folder (a second process) compiles nothing; any change to the key compiles again.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CompileCache, type CompileRequest, cacheKey, defaultCacheDir, nvrtcCompiler } from './compile-cache.js';

const dir = () => mkdtempSync(join(tmpdir(), 'flexattn-cache-'));

/** A compiler whose output depends on every input, and that counts its calls. */
function fakeCompiler() {
  const calls: string[] = [];
  const compile = async (source: string, req: CompileRequest) => {
    calls.push(source);
    await new Promise((r) => setTimeout(r, 5));
    return new TextEncoder().encode(`cubin(${source}|${req.arch}|${req.templateVersion}|${(req.options ?? []).join(' ')})`);
  };
  return { compile, calls };
}

const req: CompileRequest = { arch: 'sm_90a', templateVersion: 'fwd-3', options: ['-O3'], key: { dtype: 'bf16', headDim: 128 } };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe('CompileCache', () => {
  it('round-trips through disk: a second cache on the same folder compiles nothing', async () => {
    const cacheDir = dir();
    const a = fakeCompiler();
    const first = new CompileCache({ compile: a.compile, cacheDir });
    const bytes = await first.get('kernel A', req);
    expect(text(bytes)).toBe('cubin(kernel A|sm_90a|fwd-3|-O3)');
    await first.get('kernel A', req);
    expect(a.calls).toEqual(['kernel A']);
    expect(first.stats).toEqual({ memoryHits: 1, diskHits: 0, compiles: 1, diskErrors: 0 });

    const b = fakeCompiler();
    const second = new CompileCache({ compile: b.compile, cacheDir });
    expect(text(await second.get('kernel A', req))).toBe('cubin(kernel A|sm_90a|fwd-3|-O3)');
    expect(b.calls).toEqual([]);
    expect(second.stats).toMatchObject({ diskHits: 1, compiles: 0 });
  });

  it('compiles again when the source, arch, template version, options or extra key change', async () => {
    const cacheDir = dir();
    const c = fakeCompiler();
    const cache = new CompileCache({ compile: c.compile, cacheDir });
    await cache.get('k', req);
    await cache.get('k2', req);
    await cache.get('k', { ...req, arch: 'sm_80' });
    await cache.get('k', { ...req, templateVersion: 'fwd-4' });
    await cache.get('k', { ...req, options: ['-O3', '--use_fast_math'] });
    await cache.get('k', { ...req, key: { dtype: 'f16', headDim: 128 } });
    expect(c.calls).toHaveLength(6);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.bin'))).toHaveLength(6);
    // key order inside `key` does not matter
    await cache.get('k', { ...req, key: { headDim: 128, dtype: 'bf16' } });
    expect(c.calls).toHaveLength(6);
    expect(cacheKey('k', req)).toBe(cacheKey('k', { ...req, key: { headDim: 128, dtype: 'bf16' } }));
    expect(cacheKey('k', req)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes entries atomically (no temp files left) with a checksum, and recompiles a damaged entry', async () => {
    const cacheDir = dir();
    const c = fakeCompiler();
    const cache = new CompileCache({ compile: c.compile, cacheDir, onDiskError: () => {} });
    const bytes = await cache.get('k', req);
    expect(readdirSync(cacheDir)).toEqual([`${cacheKey('k', req)}.bin`]);
    const path = cache.pathFor('k', req)!;
    const file = readFileSync(path);
    expect(file.subarray(0, 32)).toEqual(createHash('sha256').update(bytes).digest());
    expect(text(file.subarray(32))).toBe(text(bytes));

    writeFileSync(path, Buffer.concat([file.subarray(0, 40), Buffer.from('garbage')]));
    const fresh = new CompileCache({ compile: c.compile, cacheDir, onDiskError: () => {} });
    expect(text(await fresh.get('k', req))).toBe(text(bytes));
    expect(fresh.stats).toMatchObject({ diskErrors: 1, compiles: 1, diskHits: 0 });
    expect(readFileSync(path).equals(file)).toBe(true); // repaired
  });

  it('shares one compile among concurrent requests and retries after a failure', async () => {
    let calls = 0;
    let fail = true;
    const cache = new CompileCache({
      cacheDir: false,
      compile: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 10));
        if (fail) throw new Error('compile error');
        return new Uint8Array([1, 2, 3]);
      },
    });
    const results = await Promise.allSettled([cache.get('k', req), cache.get('k', req), cache.get('k', req)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(calls).toBe(1);
    fail = false;
    expect([...(await cache.get('k', req))]).toEqual([1, 2, 3]);
    expect(calls).toBe(2);
    expect(cache.dir).toBeNull();
  });

  it('keeps working in memory when the disk cannot be written', async () => {
    const parent = dir();
    writeFileSync(join(parent, 'file'), 'x'); // a file where the cache folder should go
    const errors: string[] = [];
    const c = fakeCompiler();
    const cache = new CompileCache({ compile: c.compile, cacheDir: join(parent, 'file', 'cuda'), onDiskError: (e) => errors.push(e.message) });
    expect(text(await cache.get('k', req))).toMatch(/^cubin\(k/);
    expect(cache.stats.diskErrors).toBeGreaterThan(0);
    expect(errors.join()).toMatch(/ENOTDIR|EEXIST/);
    await cache.get('k', req);
    expect(c.calls).toHaveLength(1);
  });

  it('evicts the least recently used entry from memory', async () => {
    const c = fakeCompiler();
    const cache = new CompileCache({ compile: c.compile, cacheDir: false, maxMemoryEntries: 2 });
    await cache.get('a', req);
    await cache.get('b', req);
    await cache.get('a', req); // a is now the most recent
    await cache.get('c', req); // evicts b
    await cache.get('a', req);
    expect(c.calls).toEqual(['a', 'b', 'c']);
    await cache.get('b', req);
    expect(c.calls).toEqual(['a', 'b', 'c', 'b']);
  });
});

describe('defaultCacheDir', () => {
  it('prefers FLEXATTN_CUDA_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ FLEXATTN_CUDA_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/flexattn/cuda');
    expect(defaultCacheDir({})).toMatch(/\/\.cache\/flexattn\/cuda$/);
  });
});

describe('nvrtcCompiler', () => {
  it('targets the request arch and returns the cubin', async () => {
    const seen: unknown[] = [];
    const compile = nvrtcCompiler({
      compile: async (source, name, options) => {
        seen.push([source, name, options]);
        return { cubin: new Uint8Array([7]), format: 'cubin', log: '', loweredNames: {} };
      },
    });
    expect([...(await compile('src', { ...req, name: 'fwd.cu' }))]).toEqual([7]);
    expect(seen).toEqual([['src', 'fwd.cu', ['--gpu-architecture=sm_90a', '-O3']]]);
  });
});
