// `peft-studio sample` and `train --task diffusion` on the tiny DiT fixture: PNG files, seeded,
// adapters, usage errors.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli';
import { writeSyntheticIdx } from './engine/train/synthetic';

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-sample-'));
const model = path.join(__dirname, '..', 'test', 'fixtures', 'dit', 'dit_tiny_grey');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('peft-studio sample', () => {
  it('writes N greyscale PNGs of the model size, the same pixels for the same seed', async () => {
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const args = ['--model', model, '--class', '2', '--n', '3', '--steps', '4', '--seed', '5', '--cfg', '2'];
    const first = await cli('sample', ...args, '--out', a, '--json');
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.out) as { files: string[]; class_index: number; steps: number };
    expect(summary.class_index).toBe(2);
    expect(summary.files).toHaveLength(3);
    expect(readdirSync(a).sort()).toEqual(['2-seed5-000.png', '2-seed5-001.png', '2-seed5-002.png']);
    const meta = await sharp(path.join(a, '2-seed5-000.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([8, 8, 1]);

    expect((await cli('sample', ...args, '--out', b)).code).toBe(0);
    for (const f of readdirSync(a)) expect(readFileSync(path.join(b, f)).equals(readFileSync(path.join(a, f)))).toBe(true);
    // Another seed, other pixels.
    const c = path.join(tmp, 'c');
    expect((await cli('sample', ...args.slice(0, -4), '--seed', '6', '--cfg', '2', '--out', c)).code).toBe(0);
    const px = async (file: string) => sharp(file).raw().toBuffer();
    expect((await px(path.join(c, '2-seed6-000.png'))).equals(await px(path.join(a, '2-seed5-000.png')))).toBe(false);
  });

  it('train --task diffusion writes an adapter that sample --adapter applies', async () => {
    const data = path.join(tmp, 'data');
    await writeSyntheticIdx(data, 24, 4, 8, 3);
    const adapter = path.join(tmp, 'lora');
    const trained = await cli('train', '--task', 'diffusion', '--model', model, '--data', data, '--method', 'lora', '--method-opt', 'targets=["qkv","fc1"]', '--steps', '3', '--batch', '4', '--lr', '0.05', '--out', adapter, '--json');
    expect(trained.err).toBe('');
    expect(trained.code).toBe(0);
    const summary = JSON.parse(trained.out.trim().split('\n').at(-1)!) as { type: string; adapter_dir: string };
    expect(summary).toMatchObject({ type: 'summary', adapter_dir: adapter });
    expect(readdirSync(adapter).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    const args = ['--model', model, '--class', '1', '--n', '2', '--steps', '3', '--seed', '1'];
    expect((await cli('sample', ...args, '--out', path.join(tmp, 'plain'))).code).toBe(0);
    const tuned = await cli('sample', ...args, '--adapter', adapter, '--out', path.join(tmp, 'tuned'));
    expect(tuned.err).toBe('');
    const px = async (dir: string) => sharp(path.join(tmp, dir, '1-seed1-000.png')).raw().toBuffer();
    expect((await px('tuned')).equals(await px('plain'))).toBe(false);

    const bad = await cli('train', '--task', 'diffusion', '--model', model, '--data', data, '--method', 'vpt', '--out', path.join(tmp, 'v'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--method takes full, lora, sara, ssf/);
  });

  it('reports usage mistakes with the usage line and exit code 2', async () => {
    const bad = await cli('sample', '--model', model, '--class', 'jacket', '--n', '1', '--out', path.join(tmp, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--class "jacket" is not a class of the model/);
    expect(bad.err).toMatch(/usage: peft-studio sample/);
    expect((await cli('sample', '--model', model, '--class', '0')).code).toBe(2);
    expect((await cli('sample', '--model', model, '--class', '0', '--eta', '-1', '--out', tmp)).code).toBe(2);
  });
});
