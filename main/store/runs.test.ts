import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from './index';

const store = () => openStore(join(mkdtempSync(join(tmpdir(), 'studio-runs-')), 'studio.db'));

describe('runs repo', () => {
  it('appends metric points and keeps the summary row in step', () => {
    const s = store();
    const run = s.runs.create('lora-1', null, null, 'lora', { rank: 8 });
    s.runs.appendMetrics(run, [
      { name: 'loss', step: 1, value: 2.5, time: 1 },
      { name: 'loss', step: 2, value: 1.5, time: 2 },
      { name: 'val_accuracy', context: 'val', step: 2, value: 0.4, time: 2 },
    ]);
    s.runs.appendMetrics(run, [{ name: 'loss', step: 3, value: 1.75, time: 3 }]);
    expect(s.runs.summaries(run)).toEqual([
      { name: 'loss', context: '', last: 1.75, min: 1.5, max: 2.5, lastStep: 3, count: 3 },
      { name: 'val_accuracy', context: 'val', last: 0.4, min: 0.4, max: 0.4, lastStep: 2, count: 1 },
    ]);
    expect(s.runs.series(run, 'loss', '', 1).map((p) => p.step)).toEqual([2, 3]);
    s.close();
  });

  it('a replayed step replaces its point instead of duplicating it; NaN is kept as such', () => {
    const s = store();
    const run = s.runs.create('r', null, null, 'full', {});
    s.runs.appendMetrics(run, [{ name: 'loss', step: 5, value: 1, time: 1 }]);
    s.runs.appendMetrics(run, [{ name: 'loss', step: 5, value: 0.9, time: 2 }, { name: 'loss', step: 6, value: NaN, time: 3 }]);
    const [summary] = s.runs.summaries(run);
    expect(summary).toMatchObject({ count: 2, last: null, lastStep: 6, min: 0.9 });
    expect(s.db.prepare('SELECT is_nan FROM metric_points WHERE step = 6').pluck().get()).toBe(1);
    s.close();
  });

  it('a long series within a point budget keeps every spike, the first and the last point', () => {
    const s = store();
    const run = s.runs.create('long', null, null, 'lora', {});
    const points = Array.from({ length: 100_000 }, (_, i) => ({ name: 'loss', step: i + 1, value: Math.sin(i / 500) + (i === 31_337 ? 50 : 0) - (i === 77_001 ? 50 : 0), time: i }));
    s.runs.appendMetrics(run, points);
    const within = s.runs.seriesWithin(run, 'loss', '', -1, 1_000);
    expect(within.length).toBeLessThanOrEqual(1_000);
    expect(within.length).toBeGreaterThan(900);
    const steps = within.map((p) => p.step);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(new Set(steps).size).toBe(steps.length);
    expect(steps[0]).toBe(1);
    expect(steps.at(-1)).toBe(100_000);
    expect(within).toContainEqual({ step: 31_338, value: points[31_337]!.value, time: 31_337 });
    expect(within).toContainEqual({ step: 77_002, value: points[77_001]!.value, time: 77_001 });
    // Within budget, or only the tail a live chart lacks: every point as stored.
    expect(s.runs.seriesWithin(run, 'loss', '', 99_900, 1_000)).toEqual(s.runs.series(run, 'loss', '', 99_900));
    s.close();
  });

  it('a failed metric batch writes nothing (one transaction)', () => {
    const s = store();
    const run = s.runs.create('r', null, null, 'full', {});
    expect(() =>
      s.runs.appendMetrics(run, [
        { name: 'loss', step: 1, value: 1, time: 1 },
        // A metric without a name violates NOT NULL: the point before it must not land either.
        { name: null as unknown as string, step: 2, value: 1, time: 1 },
      ]),
    ).toThrow();
    expect(s.runs.summaries(run)).toEqual([]);
    expect(s.db.prepare('SELECT COUNT(*) FROM metric_points').pluck().get()).toBe(0);
    s.close();
  });

  it('runs left running by a dead studio come back interrupted, never running', () => {
    const s = store();
    const a = s.runs.create('a', null, null, 'lora', {});
    const b = s.runs.create('b', null, null, 'lora', {});
    s.runs.setStatus(a, 'running');
    s.runs.setStatus(b, 'done');
    expect(s.runs.get(a)?.startedAt).not.toBeNull();
    expect(s.runs.interruptRunning()).toBe(1);
    expect(s.runs.get(a)).toMatchObject({ status: 'interrupted', error: expect.stringMatching(/resume/) });
    expect(s.runs.get(b)?.status).toBe('done');
    s.close();
  });
});
