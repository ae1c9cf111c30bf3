// LruCache against a tiny model (an array, most recent last): random lookups, failed and finished
// builds and clears, with the stats, the evicted values and the held values compared after each step.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OptionError } from './errors';
import { LruCache } from './lru-cache';

/** A cached value standing for a build that the test finishes or fails when it chooses. */
interface Built {
  key: string;
  id: number;
  done: Promise<void>;
  finish(): void;
  fail(): void;
}

function build(key: string, id: number): Built {
  let finish!: () => void;
  let fail!: () => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = () => reject(new Error(`build ${id} failed`));
  });
  done.catch(() => {}); // the cache's own handler is the one under test
  return { key, id, done, finish, fail };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

const key = fc.integer({ min: 0, max: 6 }).map(String);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('get' as const), key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fail' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
);

describe('LruCache', () => {
  it('behaves like a list with the most recent last: hits move to the end, the first leaves past capacity, a failed build is forgotten', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(op, { minLength: 1, maxLength: 60 }), async (capacity, ops) => {
        const evicted: number[] = [];
        const cache = new LruCache<Built>({ capacity, optionName: 'testCacheSize', onEvict: (b) => evicted.push(b.id), pending: (b) => b.done });
        // the model
        let held: Built[] = [];
        const latest = new Map<string, Built>(); // the last value built per key, held or not
        const modelEvicted: number[] = [];
        let hits = 0;
        let misses = 0;
        let nextId = 0;
        for (const o of ops) {
          if (o.kind === 'get') {
            const at = held.findIndex((b) => b.key === o.key);
            let want: Built;
            if (at >= 0) {
              hits++;
              want = held.splice(at, 1)[0]!;
            } else {
              misses++;
              want = build(o.key, nextId++);
              latest.set(o.key, want);
            }
            held.push(want);
            while (held.length > capacity) modelEvicted.push(held.shift()!.id);
            const got = cache.getOrCreate(o.key, () => {
              expect(at).toBe(-1); // create runs on a miss only
              return want;
            });
            expect(got).toBe(want);
          } else if (o.kind === 'fail' || o.kind === 'finish') {
            const b = latest.get(o.key);
            if (!b) continue;
            latest.delete(o.key);
            if (o.kind === 'fail') {
              b.fail();
              held = held.filter((h) => h !== b); // forgotten if still held; no eviction
            } else b.finish();
            await settle();
          } else {
            cache.clear();
            held = [];
          }
          expect(cache.stats()).toEqual({ size: held.length, capacity, hits, misses, evictions: modelEvicted.length });
          expect([...cache.values()]).toEqual(held);
          expect(evicted).toEqual(modelEvicted);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a failed build forgets only its own entry: a key created again since keeps the new value', async () => {
    const cache = new LruCache<Built>({ capacity: 1, optionName: 'testCacheSize', pending: (b) => b.done });
    const first = cache.getOrCreate('a', () => build('a', 0));
    cache.getOrCreate('b', () => build('b', 1)); // evicts a
    const second = cache.getOrCreate('a', () => build('a', 2)); // a again, a new build
    first.fail();
    await settle();
    expect([...cache.values()]).toEqual([second]);
    second.fail();
    await settle();
    expect(cache.size).toBe(0);
  });

  it('refuses a capacity that is not a positive integer, naming the option', () => {
    for (const capacity of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => new LruCache({ capacity, optionName: 'pipelineCacheSize' })).toThrow(OptionError);
      expect(() => new LruCache({ capacity, optionName: 'pipelineCacheSize' })).toThrow(/^pipelineCacheSize must be a positive integer, got /);
    }
  });
});
