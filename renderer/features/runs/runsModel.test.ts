import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../../preload/api';
import {
  diffConfigs,
  etaSeconds,
  filterRuns,
  formatBytes,
  mergeLogLines,
  formatDuration,
  formatPercent,
  optionKind,
  optionText,
  paramsPercent,
  parseOption,
  secondsPerStep,
  sortRuns,
  upsertRun,
} from './runsModel';

const run = (over: Partial<RunSummary>): RunSummary => ({
  id: 1,
  name: 'r',
  method: 'lora',
  status: 'done',
  datasetId: 1,
  modelId: 1,
  error: null,
  createdAt: '2026-11-27T10:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  step: 0,
  totalSteps: 10,
  lastLoss: null,
  lastValAccuracy: null,
  bestValAccuracy: null,
  lastCheckpointStep: null,
  trainableParams: null,
  totalParams: null,
  backend: null,
  ...over,
});

describe('method options as fields', () => {
  it('picks the input from the default and round-trips the value', () => {
    expect(optionKind(8)).toBe('number');
    expect(optionKind(false)).toBe('boolean');
    expect(optionKind('deep')).toBe('text');
    expect(optionKind(['query', 'value'])).toBe('list');
    expect(optionKind(null)).toBe('json');
    expect(optionKind({ r: 8 })).toBe('json');
    for (const value of [8, 0.02, true, 'deep', ['query', 'value'], [0.5, 0.75, 1], null, { r: 8, targets: ['qkv'] }]) {
      expect(parseOption(optionText(value), value)).toEqual(value);
    }
  });

  it('parses what a person types and refuses what does not parse', () => {
    expect(parseOption(' 4 ', 8)).toBe(4);
    expect(() => parseOption('four', 8)).toThrow(/number/);
    expect(parseOption('qkv, proj', ['query'])).toEqual(['qkv', 'proj']);
    expect(parseOption('0.5,1', [0.75])).toEqual([0.5, 1]);
    expect(() => parseOption('a, 1', [0.75])).toThrow(/numbers/);
    expect(parseOption('', null)).toBeNull();
    expect(parseOption('0, 2, 5', null)).toEqual([0, 2, 5]);
    expect(() => parseOption('{oops', null)).toThrow(/JSON/);
  });
});

describe('progress', () => {
  it('measures seconds per step over the latest stretch only', () => {
    const points = [
      { step: 1, time: 0 },
      { step: 2, time: 1 },
      { step: 3, time: 2 },
      // resumed much later, twice as fast
      { step: 4, time: 1000 },
      { step: 5, time: 1000.5 },
      { step: 6, time: 1001 },
    ];
    expect(secondsPerStep(points)).toBeCloseTo(0.5);
    expect(secondsPerStep(points.slice(0, 1))).toBeNull();
    expect(secondsPerStep([])).toBeNull();
  });

  it('estimates time left from step timing, else from throughput', () => {
    expect(etaSeconds(10, 0.5, null, null)).toBe(5);
    expect(etaSeconds(10, null, 16, 8)).toBe(5);
    expect(etaSeconds(10, null, null, 8)).toBeNull();
    expect(etaSeconds(0, null, null, null)).toBe(0);
    expect(formatDuration(75)).toBe('1m 15s');
    expect(formatDuration(4000)).toBe('1h 6m');
    expect(formatDuration(null)).toBe('—');
  });

  it('formats the trainable share', () => {
    expect(paramsPercent(run({ trainableParams: 1, totalParams: 200 }))).toBeCloseTo(0.5);
    expect(paramsPercent(run({}))).toBeNull();
    expect(formatPercent(0.5)).toBe('0.5%');
    expect(formatPercent(100)).toBe('100%');
    expect(formatPercent(null)).toBe('—');
  });
});

describe('runs table', () => {
  const runs = [
    run({ id: 1, name: 'b', method: 'lora', bestValAccuracy: 0.5, status: 'done' }),
    run({ id: 2, name: 'a', method: 'vpt', bestValAccuracy: null, status: 'failed' }),
    run({ id: 3, name: 'c', method: 'lora', bestValAccuracy: 0.9, status: 'running' }),
  ];

  it('sorts either way with unknown values last', () => {
    expect(sortRuns(runs, { key: 'best', dir: 'desc' }).map((r) => r.id)).toEqual([3, 1, 2]);
    expect(sortRuns(runs, { key: 'best', dir: 'asc' }).map((r) => r.id)).toEqual([1, 3, 2]);
    expect(sortRuns(runs, { key: 'name', dir: 'asc' }).map((r) => r.name)).toEqual(['a', 'b', 'c']);
  });

  it('filters by status and method, and merges live updates', () => {
    expect(filterRuns(runs, { status: '', method: 'lora' }).map((r) => r.id)).toEqual([1, 3]);
    expect(filterRuns(runs, { status: 'failed', method: '' }).map((r) => r.id)).toEqual([2]);
    expect(upsertRun(runs, run({ id: 2, status: 'running' }))[1]!.status).toBe('running');
    expect(upsertRun(runs, run({ id: 9 }))[0]!.id).toBe(9);
  });
});

describe('comparing configurations', () => {
  it('flattens nested options and marks differing rows', () => {
    const rows = diffConfigs([
      { method: 'lora', steps: 40, methodOptions: { r: 8, targets: ['query', 'value'] } },
      { method: 'lora', steps: 20, methodOptions: { r: 8, targets: ['query', 'value'] }, lr: 0.01 },
    ]);
    expect(rows.map((r) => [r.key, r.differs])).toEqual([
      ['method', false],
      ['steps', true],
      ['methodOptions.r', false],
      ['methodOptions.targets', false],
      ['lr', true],
    ]);
    expect(rows.find((r) => r.key === 'lr')!.values).toEqual([undefined, 0.01]);
  });
});

describe('run page helpers', () => {
  it('formats byte counts in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });

  it('merges a fetched log tail with live lines, once each, keeping the last lines', () => {
    const line = (time: string, text: string) => ({ time, level: 'info' as const, text });
    const fetched = [line('t1', 'a'), line('t2', 'b')];
    const live = [line('t2', 'b'), line('t3', 'c')];
    expect(mergeLogLines(fetched, live, 10).map((l) => l.text)).toEqual(['a', 'b', 'c']);
    expect(mergeLogLines(fetched, live, 2).map((l) => l.text)).toEqual(['b', 'c']);
  });
});
