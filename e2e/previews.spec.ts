import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIRequestContext, Page } from '@playwright/test';
import { FASHION_CLASSES, makeFashionFolder } from '../scripts/make-fashion-folder';
import { digitPng } from '../test/digits';
import { sharedPath } from '../test/shared';
import { dropFile } from './drop';
import { expect, test, type RunningStudio } from './studio';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });

type Canvas2d = { getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } };

test('preview a dropped handwritten digit with vit-mnist: top-5 with the right digit first, attention overlay', async ({ studio, page }) => {
  const model = sharedPath('models/vit-mnist');
  test.skip(!model, 'needs ../shared/models/vit-mnist');

  await page.goto(studio.url);
  await nav(page, 'Models').click();
  await page.getByLabel('Model folder').fill(model!);
  await page.getByRole('button', { name: 'Import model' }).click();
  await expect(page.getByTestId('model-row')).toContainText('vit-mnist');

  await nav(page, 'Previews').click();
  await expect(page.getByRole('heading', { name: 'Previews' })).toBeVisible();
  await expect(page.getByLabel('Model to try')).toHaveValue(/^model:\d+$/);

  for (const digit of [7, 2]) {
    await dropFile(page, 'preview-drop', `digit-${digit}.png`, await digitPng(digit, 4));
    const classes = page.getByTestId('preview-class');
    await expect(classes).toHaveCount(5, { timeout: 30_000 });
    await expect(classes.first()).toHaveAttribute('data-label', String(digit));
    const percents = (await classes.locator('.preview-prob').allTextContents()).map((t) => Number.parseFloat(t));
    expect([...percents].sort((a, b) => b - a)).toEqual(percents);
    expect(percents[0]).toBeGreaterThan(50);
  }

  // The attention-rollout map covers the image: vit-mnist sees 28×28 digits as a 7×7 grid of patches.
  const overlay = page.getByTestId('preview-overlay');
  await expect(overlay).toBeVisible();
  await expect(overlay).toHaveAttribute('data-rows', '7');
  await expect(overlay).toHaveAttribute('data-cols', '7');
  const [imageBox, overlayBox] = [await page.getByTestId('preview-image').boundingBox(), await overlay.boundingBox()];
  expect(overlayBox).toEqual(imageBox);
  // Painted: the canvas holds non-transparent pixels.
  const alpha = await overlay.evaluate((canvas) => Array.from((canvas as unknown as Canvas2d).getContext('2d').getImageData(0, 0, 7, 7).data).filter((_, i) => i % 4 === 3));
  expect(alpha.some((a) => a > 0)).toBe(true);

  await page.getByLabel('Overlay opacity').fill('0.3');
  await expect(overlay).toHaveCSS('opacity', '0.3');
  await page.setViewportSize({ width: 1360, height: 760 });
  await page.screenshot({ path: 'docs/screenshots/previews.png' });
  await page.getByRole('checkbox', { name: 'Show attention overlay' }).uncheck();
  await expect(overlay).toHaveCount(0);
  await page.getByRole('checkbox', { name: 'Show attention overlay' }).check();
  await expect(page.getByTestId('preview-overlay')).toBeVisible();

  // Something that is not an image is refused with the import checks' reason.
  await dropFile(page, 'preview-drop', 'notes.png', Buffer.from('not an image at all'));
  await expect(page.getByTestId('preview-error')).toContainText('notes.png: not an image');
});

/** What the soup test's page script touches (the e2e specs compile without the DOM's types). */
interface ObservedDom {
  document: { body: unknown; querySelector(selector: string): { getAttribute(name: string): string | null; textContent: string | null } | null };
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: Record<string, boolean>): void };
  /** The highest progress total and count the bar showed, and each stage line it showed. */
  soupProgress?: { total: number; done: number; stages: string[] };
}

/** One call of the studio's HTTP API, as the remote client makes it; returns the value or throws the error. */
async function call<T>(request: APIRequestContext, studio: RunningStudio, channel: string, input: unknown): Promise<T> {
  const response = await request.post(`${studio.origin}/api/${channel}`, { data: input, headers: { authorization: `Bearer ${studio.token}` } });
  const envelope = (await response.json()) as { ok: boolean; value?: T; error?: { message: string } };
  if (!envelope.ok) throw new Error(`${channel}: ${envelope.error?.message}`);
  return envelope.value as T;
}

test('make a soup of two finished LoRA runs from the runs table, keep it as a model, and try a run', async ({ studio, page, request }) => {
  const model = sharedPath('models/vit-mnist');
  test.skip(!model, 'needs ../shared/models/vit-mnist');
  test.setTimeout(180_000);
  // Set-up through the API (the runs spec drives these screens): three look-alike Fashion-MNIST
  // classes (T-shirt, Pullover, Shirt), 10 real images each, a val split, two short runs.
  const folder = mkdtempSync(join(tmpdir(), 'studio-e2e-soup-'));
  await makeFashionFolder(folder, 10, [0, 2, 6]);
  const shirtDir = join(folder, FASHION_CLASSES[6]!);
  const shirt = readFileSync(join(shirtDir, readdirSync(shirtDir)[0]!));
  const { id: modelId } = await call<{ id: number }>(request, studio, 'models.import', { path: model });
  const { id: datasetId } = await call<{ id: number }>(request, studio, 'datasets.create', { name: 'Fashion' });
  const { importId } = await call<{ importId: number }>(request, studio, 'imports.start', { datasetId, source: { kind: 'folder', path: folder } });
  await expect.poll(async () => (await call<{ status: string }>(request, studio, 'imports.get', { id: importId })).status).toBe('done');
  rmSync(folder, { recursive: true, force: true });
  await call(request, studio, 'splits.make', { datasetId, train: 0.7, val: 0.3, test: 0, reassign: true });
  for (const [name, seed] of [['LoRA seed 1', 1], ['LoRA seed 2', 2]] as const) {
    await call(request, studio, 'runs.create', { name, datasetId, modelId, method: 'lora', steps: 12, batchSize: 8, lr: 3e-3, seed, evalEvery: 6, checkpointEvery: 6 });
  }
  await expect
    .poll(async () => (await call<{ status: string }[]>(request, studio, 'runs.list', {})).map((r) => r.status).join(','), { timeout: 150_000 })
    .toBe('done,done');

  await page.goto(studio.url);
  await nav(page, 'Runs').click();
  const soupButton = page.getByRole('button', { name: /^Make soup/ });
  await page.getByLabel('Select LoRA seed 1').check();
  await expect(soupButton).toBeDisabled();
  await page.getByLabel('Select LoRA seed 2').check();
  // The soup of 9 images is quick: a DOM observer records what the progress bar and its stage line showed.
  await page.evaluate(() => {
    const dom = globalThis as unknown as ObservedDom;
    const seen = { total: 0, done: 0, stages: [] as string[] };
    dom.soupProgress = seen;
    new dom.MutationObserver(() => {
      const bar = dom.document.querySelector('[data-testid="soup-progress"]');
      const stage = dom.document.querySelector('[data-testid="soup-stage"]')?.textContent;
      if (bar) {
        seen.total = Math.max(seen.total, Number(bar.getAttribute('aria-valuemax') ?? 0));
        seen.done = Math.max(seen.done, Number(bar.getAttribute('aria-valuenow') ?? 0));
      }
      if (stage && seen.stages.at(-1) !== stage) seen.stages.push(stage);
    }).observe(dom.document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await soupButton.click();
  const dialog = page.getByTestId('soup-dialog');
  await expect(dialog.getByTestId('soup-uniform-accuracy')).toHaveText(/%/, { timeout: 60_000 });
  // The bar came and went: it counted the 9 images over 2 runs alone, the uniform soup and 1 greedy step.
  await expect(dialog.getByTestId('soup-progress')).toHaveCount(0);
  const shown = await page.evaluate(() => (globalThis as unknown as ObservedDom).soupProgress!);
  expect(shown.total).toBe(4 * 9);
  expect(shown.done).toBeGreaterThan(0);
  expect(shown.stages.join('\n')).toMatch(/Scoring run \d of 2 alone \(LoRA seed \d\): \d of 9 images/);
  await expect(dialog.getByTestId('soup-greedy-accuracy')).toHaveText(/%/);
  // 30 % of 10 images of each of 3 classes held out by both runs.
  await expect(dialog).toContainText('Scored on 9 held-out images');
  await expect(dialog.getByTestId('soup-uniform')).toContainText('LoRA seed 1 + LoRA seed 2');
  await expect(dialog.getByTestId('soup-start-note')).toContainText('different seeds');
  await page.screenshot({ path: 'docs/screenshots/soup.png' });
  await dialog.getByTestId('soup-uniform').getByRole('button', { name: 'Keep as model' }).click();
  await expect(dialog.getByTestId('soup-uniform-kept')).toBeVisible({ timeout: 60_000 });
  await dialog.getByRole('button', { name: 'Close' }).click();

  await nav(page, 'Models').click();
  await expect(page.getByTestId('model-row')).toHaveCount(2);
  await expect(page.getByTestId('model-row').filter({ hasText: 'uniform soup of LoRA seed 1 + LoRA seed 2' })).toHaveCount(1);

  // "Try it" on a run opens Previews with that run's model.
  await nav(page, 'Runs').click();
  await page.getByRole('link', { name: 'LoRA seed 2' }).click();
  await page.getByRole('link', { name: 'Try it' }).click();
  await expect(page.getByLabel('Model to try')).toHaveValue(/^run:\d+$/);
  await dropFile(page, 'preview-drop', 'shirt.png', shirt);
  await expect(page.getByTestId('preview-class')).toHaveCount(3, { timeout: 30_000 });
  await expect(page.getByTestId('preview-overlay')).toBeVisible();

  // An image already in the studio, picked from its dataset.
  await page.getByLabel('From a dataset').selectOption({ label: 'Fashion' });
  await page.getByRole('list', { name: 'Dataset images' }).getByRole('listitem').first().click();
  await expect(page.getByTestId('preview-image')).toHaveAttribute('src', /\/media\/image\/[0-9a-f]{64}/);
  await expect(page.getByTestId('preview-class')).toHaveCount(3, { timeout: 30_000 });
  await expect(page.getByTestId('preview-error')).toHaveCount(0);
});
