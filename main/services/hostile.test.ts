import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { writeHostileCorpus } from '../../test/hostile/corpus';
import { tempStudio } from '../../test/studio';
import { importModel } from './models';

const tempDir = () => mkdtempSync(join(tmpdir(), 'studio-hostile-'));

describe('hostile inputs', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await current?.studio.close();
    current = undefined;
  });

  it('every hostile file is refused with its one-line reason, valid oddities are imported upright', async () => {
    current = tempStudio();
    const { studio, dataDir } = current;
    const dir = tempDir();
    const cases = await writeHostileCorpus(dir);
    const datasetId = studio.datasets.create('hostile').id;
    const { importId } = await studio.imports.start(datasetId, { kind: 'folder', path: dir });
    await studio.imports.idle();
    const report = studio.imports.get(importId);
    const reasons = new Map(report.issues.map((i) => [i.path, i.reason]));
    for (const c of cases) {
      if (c.expect === 'imported') {
        expect(reasons.has(c.path), `${c.path}: ${reasons.get(c.path)}`).toBe(false);
      } else {
        expect(reasons.get(c.path), c.path).toMatch(c.expect);
        expect(reasons.get(c.path)).not.toContain('\n');
      }
    }
    const valid = cases.filter((c) => c.expect === 'imported').length;
    expect(report).toMatchObject({ status: 'done', added: valid, skipped: cases.length - valid });
    expect(studio.datasets.images(datasetId, {}, 0, 100).total).toBe(valid);

    // EXIF orientation 6 turns a 60×20 photo into a 20×60 one, and the thumbnail is upright too.
    const rotated = studio.datasets.images(datasetId, { search: 'exif-rotated' }, 0, 1).items[0]!;
    expect([rotated.width, rotated.height]).toEqual([20, 60]);
    const thumb = await sharp(studio.media.pathOf('thumb', rotated.hash)).metadata();
    expect([thumb.width, thumb.height]).toEqual([20, 60]);
    // Nothing but the valid images reached the media folder.
    const originals = readdirSync(join(dataDir, 'media'), { recursive: true }).filter((f) => String(f).length > 3);
    expect(originals).toHaveLength(valid);
  });

  it('dropped files with traversal names are stored by hash, never written where their name points', async () => {
    current = tempStudio();
    const { studio, dataDir } = current;
    const datasetId = studio.datasets.create('dropped').id;
    const png = (await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer()).toString('base64');
    const files = [{ name: '../../../../tmp/evil.png', folder: '../../escape', base64: png }];
    const { importId } = await studio.imports.start(datasetId, { kind: 'upload', files });
    await studio.imports.idle();
    expect(studio.imports.get(importId).added).toBe(1);
    const [image] = studio.datasets.images(datasetId, {}, 0, 1).items;
    expect(image!.fileName).toBe('evil.png');
    expect(studio.datasets.get(datasetId).classes.map((c) => c.name)).toEqual(['escape']);
    expect(readdirSync(dataDir).sort()).toEqual(['media', 'studio.db', 'studio.db-shm', 'studio.db-wal', 'thumbs']);
  });

  it('a model folder with only a PyTorch pickle is refused without ever reading the pickle', async () => {
    current = tempStudio();
    const dir = tempDir();
    // A pickle whose unpickling would run os.system: we never unpickle, so it only has to be refused.
    writeFileSync(join(dir, 'pytorch_model.bin'), Buffer.from("cos\nsystem\n(S'touch /tmp/pwned-by-pickle'\ntR.", 'latin1'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ image_size: 28, patch_size: 4, num_channels: 1, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8, hidden_act: 'relu' }));
    await expect(importModel(current.studio.store, dir)).rejects.toThrow(/model\.safetensors/);
    expect(current.studio.store.models.list()).toEqual([]);
  });

  it('refuses configs with absurd sizes in one line', async () => {
    current = tempStudio();
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ image_size: 28, patch_size: 4, num_channels: 1, hidden_size: 1e12, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8, hidden_act: 'relu' }));
    writeFileSync(join(dir, 'model.safetensors'), Buffer.alloc(16));
    const error = await importModel(current.studio.store, dir).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain('\n');
    expect(current.studio.store.models.list()).toEqual([]);
  });
});
