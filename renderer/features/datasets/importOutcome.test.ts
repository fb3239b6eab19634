import { describe, expect, it } from 'vitest';
import type { ImportReport } from '../../../preload/api';
import { outcomeOf, outcomeTitle } from './importOutcome';

const report = (over: Partial<ImportReport>): ImportReport => ({
  id: 1,
  datasetId: 1,
  jobId: 'j',
  source: 'upload',
  status: 'done',
  total: 10,
  processed: 10,
  added: 8,
  duplicates: 1,
  skipped: 1,
  startedAt: '2026-11-27T10:00:00Z',
  finishedAt: '2026-11-27T10:00:05Z',
  error: null,
  issues: [{ path: 'cats/bad.jpg', reason: 'not an image' }],
  ...over,
});

describe('outcomeOf', () => {
  it('sums chunks and keeps every issue, local ones first', () => {
    const outcome = outcomeOf(
      'dropped files',
      [report({ id: 1 }), report({ id: 2, finishedAt: '2026-11-27T10:01:00Z', issues: [] })],
      [{ path: 'huge.tif', reason: 'larger than 50 MB' }],
    );
    expect(outcome.status).toBe('done');
    expect(outcome.added).toBe(16);
    expect(outcome.duplicates).toBe(2);
    expect(outcome.skipped).toBe(3);
    expect(outcome.total).toBe(21);
    expect(outcome.issues.map((i) => i.path)).toEqual(['huge.tif', 'cats/bad.jpg']);
    expect(outcome.finishedAt).toBe('2026-11-27T10:01:00Z');
    expect(outcomeTitle(outcome)).toBe('Import finished');
  });

  it('lets a failure or a cancel win', () => {
    expect(outcomeOf('x', [report({}), report({ status: 'cancelled' })]).status).toBe('cancelled');
    expect(outcomeOf('x', [report({ status: 'failed', error: 'disk full' })]).error).toBe('disk full');
    expect(outcomeOf('x', [], [], 'not reachable').status).toBe('failed');
  });
});
