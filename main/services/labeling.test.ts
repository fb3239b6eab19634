import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digitPng, writeDigitFolder } from '../../test/digits';
import { tempStudio } from '../../test/studio';
import { exportDataset } from './export';

const tempDir = () => mkdtempSync(join(tmpdir(), 'studio-label-'));

describe('labeling service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
  });

  /** A dataset of real digits: `counts` labelled per class, plus `unlabeled` images at the top. */
  async function digits(counts: Record<string, number>, unlabeled = 0) {
    current ??= tempStudio();
    const { studio } = current;
    const folder = tempDir();
    await writeDigitFolder(folder, counts);
    for (let i = 0; i < unlabeled; i++) writeFileSync(join(folder, `u${i}.png`), await digitPng(9, 100 + i));
    const datasetId = studio.datasets.create(`d${Math.random()}`).id;
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    const ids = (filter = {}) => studio.datasets.imageIds(datasetId, filter);
    const classId = (name: string) => studio.datasets.get(datasetId).classes.find((c) => c.name === name)!.id;
    return { studio, datasetId, ids, classId, folder };
  }

  it('labels, undoes and redoes exactly, with one history per dataset', async () => {
    const { studio, datasetId, ids, classId } = await digits({ '1': 2, '2': 2 }, 3);
    const labeling = studio.labeling;
    const unlabeled = ids({ classId: null });
    expect(unlabeled).toHaveLength(3);
    const two = classId('2');
    const refreshes: number[] = [];
    studio.events.subscribe((event, payload) => event === 'datasets.changed' && refreshes.push((payload as { datasetId: number }).datasetId));

    expect(labeling.setLabels(datasetId, unlabeled.slice(0, 2), two)).toEqual({ imageIds: unlabeled.slice(0, 2), canUndo: true, canRedo: false });
    // Relabelling images already in that class changes nothing and records nothing.
    expect(labeling.setLabels(datasetId, unlabeled.slice(0, 2), two).imageIds).toEqual([]);
    const ones = ids({ classId: classId('1') });
    labeling.setLabels(datasetId, [ones[0]!, unlabeled[2]!], two);
    expect(ids({ classId: two })).toHaveLength(6);

    expect(labeling.undo(datasetId).imageIds).toEqual([ones[0], unlabeled[2]]);
    expect(ids({ classId: classId('1') })).toEqual(ones); // back in its old class, not unlabeled
    expect(ids({ classId: null })).toEqual([unlabeled[2]]);
    labeling.undo(datasetId);
    expect(ids({ classId: null })).toEqual(unlabeled);
    expect(labeling.undo(datasetId)).toEqual({ imageIds: [], canUndo: false, canRedo: true });
    labeling.redo(datasetId);
    expect(ids({ classId: two })).toHaveLength(4);
    // Every action that changed labels told the other windows; no-ops did not.
    expect(refreshes).toEqual([datasetId, datasetId, datasetId, datasetId, datasetId]);
    // A new action clears the redo stack.
    expect(labeling.setLabels(datasetId, [unlabeled[0]!], null).canRedo).toBe(false);
  });

  it('a label write that fails half-way leaves no half state', async () => {
    const { studio, datasetId, ids, classId } = await digits({ '1': 1 }, 3);
    const [a, b, c] = ids({ classId: null });
    // Make the database refuse the second image's label, as a full disk or I/O error would.
    studio.store.db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON labels WHEN NEW.image_id = ${b} BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`);
    expect(() => studio.labeling.setLabels(datasetId, [a!, b!, c!], classId('1'))).toThrow(/disk I\/O error/);
    expect(ids({ classId: null })).toEqual([a, b, c]);
    expect(studio.labeling.undo(datasetId).imageIds).toEqual([]); // the failed action is not in the history
  });

  it('refuses images and classes of another dataset', async () => {
    const first = await digits({ '1': 1 });
    const second = await digits({ '2': 1 });
    const foreignImage = second.ids()[0]!;
    expect(() => first.studio.labeling.setLabels(first.datasetId, [foreignImage], first.classId('1'))).toThrow(/not in this dataset/);
    expect(() => first.studio.labeling.setLabels(first.datasetId, first.ids(), second.classId('2'))).toThrow(/another dataset/);
  });

  it('makes stratified, seeded splits that stay put as images are added, keeping manual choices', async () => {
    const { studio, datasetId, ids, classId, folder } = await digits({ '3': 20, '4': 10 });
    const split = (seed = 7, reassign = false) =>
      studio.labeling.makeSplits({ datasetId, train: 0.6, val: 0.2, test: 0.2, seed, reassign });
    expect(split()).toEqual({ train: 18, val: 6, test: 6, none: 0 });
    // The datasets list (its cards) has the same counts at a glance.
    expect(studio.datasets.list().find((d) => d.id === datasetId)).toMatchObject({ imageCount: 30, unlabeledCount: 0, splitCounts: { train: 18, val: 6, test: 6, none: 0 } });
    for (const [name, n] of [['3', 20], ['4', 10]] as const) {
      const inClass = (s: 'train' | 'val' | 'test') => ids({ classId: classId(name), split: s }).length;
      expect([inClass('train'), inClass('val'), inClass('test')]).toEqual([n * 0.6, n * 0.2, n * 0.2]);
    }
    // The dataset's class × split matrix (the splits chart) says the same in one answer.
    expect(studio.datasets.classSplits(datasetId)).toEqual(
      expect.arrayContaining([
        { classId: classId('3'), counts: { train: 12, val: 4, test: 4, none: 0 } },
        { classId: classId('4'), counts: { train: 6, val: 2, test: 2, none: 0 } },
      ]),
    );
    const manual = ids({ split: 'test' })[0]!;
    studio.labeling.setSplit(datasetId, [manual], 'train');
    const before = new Map(['train', 'val', 'test'].map((s) => [s, ids({ split: s as 'train' })]));

    // Five more images of class 3 arrive; splitting again places only them.
    await writeDigitFolder(folder, { '3': 25 });
    await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    expect(ids({ split: 'none' })).toHaveLength(5);
    split();
    for (const [s, members] of before) expect(ids({ split: s as 'train' })).toEqual(expect.arrayContaining(members));
    expect(ids({ split: 'none' })).toHaveLength(0);

    // Reassigning with another seed reshuffles, but never the manual choice.
    split(8, true);
    expect(ids({ split: 'train' })).toContain(manual);

    // Same seed, same bytes, another dataset: the same images land in the same splits.
    const valHashes = async () => {
      const d = await digits({ '3': 20, '4': 10 });
      d.studio.labeling.makeSplits({ datasetId: d.datasetId, train: 0.6, val: 0.2, test: 0.2, seed: 7, reassign: false });
      return d.studio.datasets.images(d.datasetId, { split: 'val' }, 0, 100).items.map((i) => i.hash).sort();
    };
    const first = await valHashes();
    expect(first).toHaveLength(6);
    expect(await valHashes()).toEqual(first);
  });

  it('merges and deletes classes as asked', async () => {
    const { studio, datasetId, ids, classId } = await digits({ '5': 3, '6': 2, '7': 1 });
    expect(studio.labeling.mergeClasses(classId('6'), classId('5'))).toEqual({ moved: 2 });
    expect(studio.datasets.get(datasetId).classes.map((c) => [c.name, c.imageCount])).toEqual([['5', 5], ['7', 1]]);
    await studio.labeling.deleteClass(classId('7'), 'unlabel', studio.datasets.sweepMedia);
    expect(ids({ classId: null })).toHaveLength(1);
    await studio.labeling.deleteClass(classId('5'), 'delete', studio.datasets.sweepMedia);
    expect(studio.datasets.get(datasetId)).toMatchObject({ imageCount: 1, classCount: 0 });
  });

  it('imports captions from same-name .txt files; export and re-import give the same dataset', async () => {
    current = tempStudio();
    const { studio } = current;
    const folder = tempDir();
    await writeDigitFolder(folder, { '1': 3, '2': 2 });
    writeFileSync(join(folder, '1', '1-0.txt'), 'a one, written fast\n');
    writeFileSync(join(folder, 'loose.png'), await digitPng(4, 3));
    writeFileSync(join(folder, 'orphan.txt'), 'no image has this name');
    const datasetId = studio.datasets.create('captioned').id;
    const { importId } = await studio.imports.start(datasetId, { kind: 'folder', path: folder });
    await studio.imports.idle();
    expect(studio.imports.get(importId)).toMatchObject({ added: 6, skipped: 1, issues: [{ path: 'orphan.txt' }] });
    const captioned = studio.datasets.images(datasetId, { search: '1-0' }, 0, 10).items;
    expect(captioned.map((i) => i.caption)).toEqual(['a one, written fast']);
    studio.labeling.makeSplits({ datasetId, train: 0.5, val: 0.5, test: 0, seed: 1, reassign: false });
    const image = captioned[0]!;
    studio.labeling.setCaption(image.id, 'edited, with "quotes"');

    const out = join(tempDir(), 'export');
    const result = await exportDataset(studio.store, studio.media, datasetId, out);
    expect(result.images).toBe(6);
    expect(readFileSync(join(out, '1', '1-0.txt'), 'utf8')).toBe('edited, with "quotes"');
    expect(readFileSync(join(out, 'manifest.csv'), 'utf8')).toContain('"edited, with ""quotes"""');
    await expect(exportDataset(studio.store, studio.media, datasetId, out)).rejects.toThrow(/not empty/);

    const copyId = studio.datasets.create('re-imported').id;
    const { importId: again } = await studio.imports.start(copyId, { kind: 'folder', path: out });
    await studio.imports.idle();
    expect(studio.imports.get(again)).toMatchObject({ added: 6, skipped: 0 });
    const snapshot = (d: number) => {
      const names = new Map(studio.datasets.get(d).classes.map((c) => [c.id, c.name]));
      return studio.datasets
        .images(d, {}, 0, 100)
        .items.map((i) => [i.hash, i.classId === null ? null : names.get(i.classId), i.split, i.caption])
        .sort();
    };
    expect(snapshot(copyId)).toEqual(snapshot(datasetId));
  });
});
