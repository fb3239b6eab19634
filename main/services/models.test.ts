import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_IN_MODELS, tempStudio } from '../../test/studio';

const TINY_MODEL = join(__dirname, '../../test/fixtures/vit/hf_gelutanh_nobias_grey');
const TINY_DIT = join(__dirname, '../../test/fixtures/dit/dit_tiny_grey');

/** Every file under a folder, relative paths. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)).map((f) => join(e.name, f)) : [e.name]));

describe('model service', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await current?.studio.close();
    if (current) rmSync(current.dataDir, { recursive: true, force: true });
    current = undefined;
  });

  it('lists the embedded starter models as built-in, from the app resources, before imported ones, without copying them', async () => {
    current = tempStudio({ builtInModelsDir: BUILT_IN_MODELS });
    const { dispatch, dataDir } = current;
    const imported = await dispatch('models.import', { path: TINY_MODEL });
    expect(imported).toMatchObject({ ok: true, value: { builtIn: false } });
    const listed = await dispatch('models.list', {});
    if (!listed.ok) throw new Error(listed.error.message);
    const models = listed.value as { name: string; layout: string; path: string; builtIn: boolean; imageSize: number; numChannels: number; classes: string[] }[];
    expect(models.map((m) => [m.path, m.builtIn])).toEqual([
      [join(BUILT_IN_MODELS, 'dit-fashion'), true],
      [join(BUILT_IN_MODELS, 'vit-fashion'), true],
      [TINY_MODEL, false],
    ]);
    expect(models[0]).toMatchObject({ layout: 'dit', imageSize: 28, numChannels: 1 });
    expect(models[0]!.classes).toHaveLength(10);
    expect(models[0]!.classes[9]).toBe('Ankle boot');
    expect(models[1]).toMatchObject({ layout: 'timm', imageSize: 28, numChannels: 1 });
    // Listing again registers nothing twice; the data folder holds no model files.
    const again = await dispatch('models.list', {});
    expect(again.ok && (again.value as unknown[]).length).toBe(3);
    expect(filesUnder(dataDir).filter((f) => f.endsWith('.safetensors') || f.endsWith('config.json'))).toEqual([]);
  });

  it('imports a DiT folder by its config (model_type "dit"); a studio without resources lists no built-ins', async () => {
    current = tempStudio();
    const dit = await current.studio.models.import(TINY_DIT);
    expect(dit).toMatchObject({ layout: 'dit', builtIn: false, path: TINY_DIT });
    expect((await current.studio.models.list()).map((m) => m.path)).toEqual([TINY_DIT]);
  });

  it('a diffusion model cannot be the base of a classification run: runs.create and runs.estimate refuse a classifier-only method', async () => {
    current = tempStudio();
    const dit = await current.studio.models.import(TINY_DIT);
    const datasetId = current.studio.datasets.create('any').id;
    for (const channel of ['runs.create', 'runs.estimate'] as const) {
      const refused = await current.dispatch(channel, { datasetId, modelId: dit.id, method: 'bitfit' });
      expect(refused).toMatchObject({ ok: false, error: { code: 'validation' } });
      expect(!refused.ok && refused.error.message).toMatch(/diffusion model/);
    }
    expect(current.studio.runs.list()).toEqual([]);
  });
});
