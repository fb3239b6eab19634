import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../data/manifest';
import { openTrainingData } from './data';
import { stratifiedSplit, trainValSplit, type SampleSplit } from './split';

// 3 classes × 6 samples, labels 0,1,2,0,1,2,…
const labels = Array.from({ length: 18 }, (_, i) => i % 3);

describe('trainValSplit', () => {
  it("uses the dataset's own val samples as the validation set, trains on the rest and never sees test", () => {
    const splits: SampleSplit[] = labels.map((_, i) => (i < 3 ? 'val' : i < 6 ? 'test' : i < 9 ? null : 'train'));
    const { train, val, valSource } = trainValSplit(labels, splits, { valFraction: 0.5, seed: 1 });
    expect(valSource).toBe('dataset');
    expect(val).toEqual([0, 1, 2]);
    // Unassigned samples (null) train alongside the train split.
    expect(train).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
  });

  it('limitPerClass trims the training side only', () => {
    const splits: SampleSplit[] = labels.map((_, i) => (i < 6 ? 'val' : 'train'));
    const { train, val } = trainValSplit(labels, splits, { valFraction: 0.1, seed: 0, limitPerClass: 2 });
    expect(val).toEqual([0, 1, 2, 3, 4, 5]);
    expect(train).toEqual([6, 7, 8, 9, 10, 11]);
  });

  it('falls back to the seeded stratified draw when the dataset has no val samples (same as before splits existed)', () => {
    const expected = stratifiedSplit(labels.map((_, i) => i), (i) => labels[i]!, 0.34, 5);
    expect(trainValSplit(labels, undefined, { valFraction: 0.34, seed: 5 })).toEqual({ ...expected, valSource: 'drawn' });
    expect(trainValSplit(labels, labels.map(() => 'train'), { valFraction: 0.34, seed: 5 })).toEqual({ ...expected, valSource: 'drawn' });
    // Test samples are left out of the draw as well.
    const withTest = trainValSplit(labels, labels.map((_, i) => (i < 3 ? 'test' : null)), { valFraction: 0.34, seed: 5 });
    expect(withTest.valSource).toBe('drawn');
    expect([...withTest.train, ...withTest.val].sort((a, b) => a - b)).toEqual(labels.map((_, i) => i).slice(3));
  });
});

describe('openTrainingData', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-split-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a studio manifest with every image's split", async () => {
    const manifest: DatasetManifest = {
      classes: ['cat', 'dog'],
      items: [
        { file: 'a.png', label: 0, split: 'train' },
        { file: 'b.png', label: 1, split: 'val' },
        { file: 'c.png', label: 1, split: null },
      ],
    };
    const file = path.join(dir, 'data.json');
    writeFileSync(file, JSON.stringify(manifest));
    const dataset = await openTrainingData(file);
    expect(dataset.classes).toEqual(['cat', 'dog']);
    expect([0, 1, 2].map((i) => dataset.split?.(i))).toEqual(['train', 'val', null]);
    expect(trainValSplit([0, 1, 2].map((i) => dataset.label(i)), [0, 1, 2].map((i) => dataset.split!(i)), { valFraction: 0.1, seed: 0 })).toEqual({
      train: [0, 2],
      val: [1],
      valSource: 'dataset',
    });
  });
});
