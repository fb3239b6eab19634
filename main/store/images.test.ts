import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from './index';
import type { ImageFilter } from './images';

describe('images repo paging', () => {
  let dir = '';
  let store: Store | undefined;
  afterEach(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** 50 images over two datasets: labels, splits and captions on some, so every filter joins something. */
  function seeded() {
    dir = mkdtempSync(join(tmpdir(), 'studio-images-'));
    store = openStore(join(dir, 'studio.db'));
    const s = store;
    const datasetId = s.datasets.create('paged');
    const other = s.datasets.create('other');
    const cat = s.datasets.ensureClass(datasetId, 'cat');
    s.transaction(() => {
      for (let i = 0; i < 50; i++) {
        const dataset = i % 7 === 3 ? other : datasetId; // interleaved ids from another dataset
        const id = s.images.add({
          datasetId: dataset, hash: `h${i}`, byteSize: 1, width: 1, height: 1, format: 'png',
          fileName: i % 4 === 0 ? `cat_${i}.png` : `img_${i}.png`, sourcePath: 'x', importId: null,
          classId: dataset === datasetId && i % 3 === 0 ? cat : null,
        })!;
        if (i % 2 === 0) s.labels.setSplit(id, 'train', false);
        if (i % 5 === 0) s.labels.setCaption(id, `caption ${i}`);
      }
    });
    return { s, datasetId, cat };
  }

  it('keyset pages (after an id) equal offset pages, and both equal the id list, for every filter', () => {
    const { s, datasetId, cat } = seeded();
    const filters: ImageFilter[] = [{}, { classId: null }, { classId: cat }, { split: 'train' }, { split: 'none', classId: null }, { search: 'cat_' }];
    for (const filter of filters) {
      const ids = s.images.ids(datasetId, filter);
      const byOffset = [];
      const byKeyset = [];
      let after: number | undefined;
      for (let offset = 0; offset < ids.length; offset += 4) {
        const page = s.images.page(datasetId, filter, offset, 4);
        expect(page.total).toBe(ids.length);
        byOffset.push(...page.items);
        const keyed = s.images.page(datasetId, filter, offset, 4, after);
        byKeyset.push(...keyed.items);
        after = keyed.items.at(-1)?.id;
      }
      expect(byOffset.map((item) => item.id)).toEqual(ids);
      expect(byKeyset).toEqual(byOffset);
    }
    // Every column comes with the page, whatever the filter joined.
    const first = s.images.page(datasetId, { classId: cat }, 0, 1).items[0]!;
    expect(first).toMatchObject({ classId: cat, split: 'train', caption: 'caption 0', fileName: 'cat_0.png' });
  });

  it('stores a run\'s predictions and filters by predicted class and by disagreement with the label', () => {
    const { s, datasetId, cat } = seeded();
    const dog = s.datasets.ensureClass(datasetId, 'dog');
    const all = s.images.page(datasetId, {}, 0, 100).items;
    const run = s.runs.create('r', datasetId, null, 'lora', {});
    const other = s.runs.create('r2', datasetId, null, 'lora', {});
    // The run scored the first 12 images: even positions predicted cat, odd dog; one unknown class.
    const scored = all.slice(0, 12).map((image, i) => ({ image, className: i === 11 ? 'bird' : i % 2 === 0 ? 'cat' : 'dog' }));
    const saved = s.predictions.save(run, datasetId, [
      ...scored.map(({ image, className }) => ({ imageHash: image.hash, className, confidence: 0.9 })),
      { imageHash: 'not-in-the-dataset', className: 'cat', confidence: 0.5 },
    ]);
    expect(saved).toBe(12);
    s.predictions.save(other, datasetId, [{ imageHash: all[20]!.hash, className: 'cat', confidence: 0.7 }]);
    expect(s.predictions.runsOf(datasetId)).toEqual([{ runId: other, name: 'r2', count: 1 }, { runId: run, name: 'r', count: 12 }]);

    const ids = (filter: ImageFilter) => s.images.ids(datasetId, filter);
    const idsOf = (pick: (x: (typeof scored)[number]) => boolean) => scored.filter(pick).map((x) => x.image.id);
    expect(ids({ prediction: { runId: run } })).toEqual(idsOf(() => true));
    expect(ids({ prediction: { runId: run, classId: dog } })).toEqual(idsOf((x) => x.className === 'dog'));
    // Disagreeing: labeled, and not as predicted (a class the dataset lacks never agrees).
    const disagreeing = idsOf((x) => x.image.classId !== null && (x.className === 'bird' || x.image.classId !== (x.className === 'cat' ? cat : dog)));
    expect(disagreeing.length).toBeGreaterThan(0);
    expect(ids({ prediction: { runId: run, disagrees: true } })).toEqual(disagreeing);
    expect(s.images.page(datasetId, { classId: cat, prediction: { runId: run, disagrees: true } }, 0, 100).total).toBe(
      scored.filter((x) => x.image.classId === cat && x.className !== 'cat').length,
    );
    // Saving again replaces; deleting a class keeps its predictions, with no class to match.
    s.predictions.save(run, datasetId, [{ imageHash: scored[1]!.image.hash, className: 'cat', confidence: 0.6 }]);
    expect(ids({ prediction: { runId: run, classId: dog } })).toEqual(idsOf((x) => x.className === 'dog').slice(1));
    s.datasets.deleteClass(dog, false);
    expect(ids({ prediction: { runId: run } })).toHaveLength(12);
  });

  it('orders a page from the (dataset_id, id) index, without sorting the dataset', () => {
    const { s } = seeded();
    const plan = s.db
      .prepare('EXPLAIN QUERY PLAN SELECT i.id FROM images i WHERE i.dataset_id = ? ORDER BY i.id LIMIT 10')
      .all(1)
      .map((row) => (row as { detail: string }).detail)
      .join(' | ');
    expect(plan).toContain('images_by_dataset_id');
    expect(plan).not.toContain('TEMP B-TREE');
  });
});
