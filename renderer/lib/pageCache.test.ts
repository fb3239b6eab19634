import { describe, expect, it } from 'vitest';
import { PageCache } from './pageCache';

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function fakeSource(total: { n: number }) {
  const calls: number[] = [];
  const fetcher = async (offset: number, limit: number) => {
    calls.push(offset);
    const items = [];
    for (let i = offset; i < Math.min(total.n, offset + limit); i += 1) items.push(i);
    return { total: total.n, items };
  };
  return { calls, fetcher };
}

describe('PageCache', () => {
  it('fetches only the pages a range touches, once each', async () => {
    const { calls, fetcher } = fakeSource({ n: 60_000 });
    const cache = new PageCache(fetcher, 100);
    cache.ensureRange(150, 260);
    cache.ensureRange(150, 260);
    await flush();
    expect(calls).toEqual([100, 200]);
    expect(cache.total).toBe(60_000);
    expect(cache.get(150)).toBe(150);
    expect(cache.get(0)).toBeUndefined();
    cache.ensureRange(150, 260);
    await flush();
    expect(calls).toEqual([100, 200]);
  });

  it('keeps stale pages visible and refetches them after invalidate', async () => {
    const total = { n: 50 };
    const { calls, fetcher } = fakeSource(total);
    const cache = new PageCache(fetcher, 100);
    cache.ensureRange(0, 10);
    await flush();
    total.n = 120;
    cache.invalidate();
    expect(cache.get(5)).toBe(5);
    cache.ensureRange(0, 120);
    await flush();
    // The refreshed first page reveals the new total; the grid grows and asks again.
    expect(cache.total).toBe(120);
    cache.ensureRange(0, 120);
    await flush();
    expect(calls).toEqual([0, 0, 100]);
    expect(cache.total).toBe(120);
    expect(cache.get(110)).toBe(110);
  });

  it('hands the fetcher the last item of a fresh page before, for keyset paging', async () => {
    const seen: [number, number | undefined][] = [];
    const cache = new PageCache<number>(async (offset, limit, previous) => {
      seen.push([offset, previous]);
      return { total: 1_000, items: Array.from({ length: limit }, (_, i) => offset + i) };
    }, 100);
    cache.ensureRange(0, 1);
    await flush();
    cache.ensureRange(100, 101);
    cache.ensureRange(500, 501); // a jump: nothing before it is loaded
    await flush();
    cache.invalidate();
    cache.ensureRange(100, 101); // the page before is stale: its last item may have moved
    await flush();
    expect(seen).toEqual([[0, undefined], [100, 99], [500, undefined], [100, undefined]]);
  });

  it('drops answers that arrive after an invalidate', async () => {
    let release: (() => void) | undefined;
    const cache = new PageCache<number>(
      () => new Promise((resolve) => (release = () => resolve({ total: 1, items: [42] }))),
      10,
    );
    cache.ensureRange(0, 1);
    cache.invalidate();
    release?.();
    await flush();
    expect(cache.get(0)).toBeUndefined();
  });

  it('reports errors and retries later', async () => {
    const errors: unknown[] = [];
    let fail = true;
    const cache = new PageCache<number>(
      async () => {
        if (fail) throw new Error('boom');
        return { total: 1, items: [7] };
      },
      10,
      (e) => errors.push(e),
    );
    cache.ensureRange(0, 1);
    await flush();
    expect(errors).toHaveLength(1);
    fail = false;
    cache.ensureRange(0, 1);
    await flush();
    expect(cache.get(0)).toBe(7);
  });
});
