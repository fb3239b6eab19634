// `peft-studio edit`, `train --task diffusion --single-image` and `sample --size` on the tiny DiT
// fixture (8×8 greyscale, patch 2): PNG files, seeded, the single-image adapter, usage errors.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli';

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-edit-'));
const model = path.join(__dirname, '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey');
const image = path.join(tmp, 'input.png');
const adapter = path.join(tmp, 'sine');

beforeAll(async () => {
  // A 16×16 greyscale picture (a bright square on a dark ground); the CLI resizes it to 8×8.
  const px = Buffer.from(Array.from({ length: 256 }, (_, i) => (Math.floor(i / 16) >= 4 && Math.floor(i / 16) < 12 && i % 16 >= 2 && i % 16 < 10 ? 220 : 30)));
  await sharp(px, { raw: { width: 16, height: 16, channels: 1 } }).toColourspace('b-w').png().toFile(image);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const pixels = (file: string) => sharp(file).raw().toBuffer();

describe('peft-studio train --task diffusion --single-image', () => {
  it('fine-tunes LoRA on one image and writes an adapter with its class, which sample applies at two sizes', async () => {
    const trained = await cli('train', '--task', 'diffusion', '--model', model, '--single-image', image, '--class', '1', '--method', 'lora', '--steps', '4', '--batch', '2', '--lr', '0.05', '--scales', '0.5,1', '--out', adapter, '--json');
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    const lines = trained.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number });
    expect(lines.filter((l) => l.type === 'step').map((l) => l.step)).toEqual([1, 2, 3, 4]);
    expect(readdirSync(adapter).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'single_image.json']);
    expect(JSON.parse(readFileSync(path.join(adapter, 'single_image.json'), 'utf8'))).toEqual({ image: 'input.png', class: '1', class_index: 1, scales: [0.5, 1], image_size: 8 });

    const args = ['--model', model, '--adapter', adapter, '--class', '1', '--n', '2', '--steps', '3', '--seed', '2'];
    expect((await cli('sample', ...args, '--out', path.join(tmp, 's8'))).code).toBe(0);
    const large = await cli('sample', ...args, '--size', '16', '--out', path.join(tmp, 's16'), '--json');
    expect(large.err).toBe('');
    expect(JSON.parse(large.out)).toMatchObject({ size: 16 });
    const meta = await sharp(path.join(tmp, 's16', '1-seed2-000.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([16, 16, 1]);
    expect((await sharp(path.join(tmp, 's8', '1-seed2-000.png')).metadata()).width).toBe(8);

    const odd = await cli('sample', ...args, '--size', '9', '--out', path.join(tmp, 's9'));
    expect(odd.code).toBe(2);
    expect(odd.err).toMatch(/--size must be a multiple of the patch size 2/);
    const noClass = await cli('train', '--task', 'diffusion', '--model', model, '--single-image', image, '--method', 'lora', '--out', path.join(tmp, 'x'));
    expect(noClass.code).toBe(2);
    expect(noClass.err.split('\n')[0]).toMatch(/--single-image needs --class C/);
  });

  it('--train-size fine-tunes on the image upsampled to that size and records it; a size off the patch grid is a usage error', async () => {
    const out = path.join(tmp, 'sine16');
    const base = ['train', '--task', 'diffusion', '--model', model, '--single-image', image, '--class', '1', '--method', 'lora', '--steps', '2', '--batch', '2'];
    const trained = await cli(...base, '--train-size', '16', '--out', out);
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(out, 'single_image.json'), 'utf8'))).toMatchObject({ image_size: 8, train_size: 16 });
    const odd = await cli(...base, '--train-size', '9', '--out', path.join(tmp, 'sine9'));
    expect(odd.code).toBe(2);
    expect(odd.err.split('\n')[0]).toMatch(/--train-size must be a multiple of the patch size 2 and at least the model's 8/);
    const withData = await cli('train', '--task', 'diffusion', '--model', model, '--data', tmp, '--class', '1', '--method', 'lora', '--train-size', '16');
    expect(withData.code).toBe(2);
    expect(withData.err.split('\n')[0]).toMatch(/--train-size is a --single-image option/);
  });
});

describe('peft-studio edit', () => {
  it('writes the edit as a PNG of the model size, the same pixels for the same seed', async () => {
    const args = ['--model', model, '--image', image, '--class', '2', '--t0', '0.5', '--steps', '4', '--scale', '2'];
    const first = await cli('edit', ...args, '--seed', '3', '--out', path.join(tmp, 'e1.png'), '--json');
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.out)).toMatchObject({ class_index: 2, beta: 0, adapter: null, t0: 0.5, steps: 4, seed: 3 });
    const meta = await sharp(path.join(tmp, 'e1.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([8, 8, 1]);
    expect((await cli('edit', ...args, '--seed', '3', '--out', path.join(tmp, 'e2.png'))).code).toBe(0);
    expect(readFileSync(path.join(tmp, 'e2.png')).equals(readFileSync(path.join(tmp, 'e1.png')))).toBe(true);
    expect((await cli('edit', ...args, '--seed', '4', '--out', path.join(tmp, 'e3.png'))).code).toBe(0);
    expect((await pixels(path.join(tmp, 'e3.png'))).equals(await pixels(path.join(tmp, 'e1.png')))).toBe(false);
  });

  it("with a single-image adapter, β inside the window mixes in ε_ft of the adapter's recorded class", async () => {
    if (!existsSync(adapter)) {
      const trained = await cli('train', '--task', 'diffusion', '--model', model, '--single-image', image, '--class', '1', '--method', 'lora', '--steps', '4', '--batch', '2', '--lr', '0.05', '--out', adapter);
      expect(trained.code).toBe(0);
    }
    const args = ['--model', model, '--image', image, '--class', '2', '--t0', '0.8', '--steps', '4', '--seed', '1'];
    expect((await cli('edit', ...args, '--out', path.join(tmp, 'plain.png'))).code).toBe(0);
    const withFt = await cli('edit', ...args, '--adapter', adapter, '--beta', '0.7', '--window', '0,1', '--out', path.join(tmp, 'ft.png'), '--json');
    expect(withFt.err).toBe('');
    expect(JSON.parse(withFt.out)).toMatchObject({ ft_class: '1', beta: 0.7, window: { from: 0, to: 1 } });
    expect((await pixels(path.join(tmp, 'ft.png'))).equals(await pixels(path.join(tmp, 'plain.png')))).toBe(false);
    // β = 0 with the adapter is plain guidance: the same pixels as without it.
    expect((await cli('edit', ...args, '--adapter', adapter, '--beta', '0', '--out', path.join(tmp, 'beta0.png'))).code).toBe(0);
    expect(readFileSync(path.join(tmp, 'beta0.png')).equals(readFileSync(path.join(tmp, 'plain.png')))).toBe(true);
  });

  it('reports usage mistakes on one line, then the usage line, with exit code 2', async () => {
    const base = ['--model', model, '--image', image, '--class', '2'];
    const cases: [string[], RegExp][] = [
      [base, /--out FILE is required/],
      [[...base, '--beta', '0.5', '--out', path.join(tmp, 'b.png')], /--beta > 0 needs --adapter DIR/],
      [[...base, '--window', '0.8,0.2', '--out', path.join(tmp, 'w.png')], /--window takes a,b with 0 ≤ a ≤ b ≤ 1/],
      [[...base, '--t0', '2', '--out', path.join(tmp, 't.png')], /--t0 must be within 0…1/],
      [[...base, '--ft-class', '1', '--out', path.join(tmp, 'f.png')], /--ft-class needs --adapter DIR/],
      [['--model', model, '--image', image, '--class', 'jacket', '--out', path.join(tmp, 'j.png')], /--class "jacket" is not a class of the model/],
    ];
    for (const [args, message] of cases) {
      const r = await cli('edit', ...args);
      expect(r.code).toBe(2);
      const lines = r.err.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(message);
      expect(lines[1]).toMatch(/^usage: peft-studio edit/);
    }
    expect(existsSync(path.join(tmp, 'j.png'))).toBe(false);
  });
});
