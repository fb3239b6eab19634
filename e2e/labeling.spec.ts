import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { openStore } from '../main/store';
import { digitPng, writeDigitFolder } from '../test/digits';
import { expect, test, type RunningStudio } from './studio';

/** Folders of images (and exports) the tests write; removed when the file's tests are done. */
const made: string[] = [];
const tempDir = (tag: string) => {
  const dir = mkdtempSync(join(tmpdir(), `studio-e2e-label-${tag}-`));
  made.push(dir);
  return dir;
};
test.afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes unlabeled digits at the folder's top level: `${prefix}-${i}.png`. */
async function writeLoose(folder: string, prefix: string, digit: number, count: number, from = 0) {
  mkdirSync(folder, { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(join(folder, `${prefix}-${i}.png`), await digitPng(digit, from + i));
}

async function createDataset(page: Page, name: string) {
  await page.getByLabel('Dataset name').fill(name);
  await page.getByRole('button', { name: 'Create dataset' }).click();
  await expect(page.getByRole('heading', { name, exact: true })).toBeVisible();
}

async function openStudioWithDataset(page: Page, studio: RunningStudio, name: string) {
  await page.goto(studio.url);
  await expect(page.getByText('remote shell')).toBeVisible();
  await createDataset(page, name);
}

async function importFolder(page: Page, folder: string) {
  await page.getByTestId('import-path').fill(folder);
  await page.getByTestId('import-start').click();
  await expect(page.getByTestId('import-report')).toHaveAttribute('data-status', 'done');
}

async function createClass(page: Page, name: string, hotkey: string) {
  await page.getByTestId('class-new-name').fill(name);
  await page.getByTestId('class-create').click();
  await expect(page.getByTestId(`class-hotkey-${name}`)).toHaveText(hotkey);
}

const tile = (page: Page, index: number) => page.locator(`[data-testid="thumb-tile"][data-index="${index}"]`);

test('label 20 images with hotkeys in the focus view, which jumps to the next unlabeled image', async ({ studio, page }) => {
  const folder = tempDir('focus');
  await writeLoose(folder, 'zero', 0, 10);
  await writeLoose(folder, 'one', 1, 10);
  await openStudioWithDataset(page, studio, 'Focus');
  await importFolder(page, folder);
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('20');

  await createClass(page, 'zero', '1');
  await createClass(page, 'one', '2');

  await tile(page, 0).dblclick();
  const focus = page.getByTestId('focus-view');
  await expect(focus).toBeVisible();
  const fileName = page.getByTestId('focus-file-name');
  await expect(page.getByTestId('focus-remaining')).toHaveText('20');

  // Zoom keys change the zoom, and 0 puts it back.
  await page.keyboard.press('+');
  await expect(page.getByTestId('focus-zoom')).toHaveText('125%');
  await page.keyboard.press('0');
  await expect(page.getByTestId('focus-zoom')).toHaveText('100%');

  for (let i = 0; i < 20; i++) {
    await expect(fileName).toHaveText(/\.png$/);
    const name = (await fileName.textContent())!;
    await page.keyboard.press(name.startsWith('zero') ? '1' : '2');
    if (i < 19) await expect(fileName).not.toHaveText(name);
  }
  await expect(page.getByTestId('focus-done')).toBeVisible();
  await expect(page.getByTestId('focus-remaining')).toHaveText('0');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('0');
  await expect(page.getByTestId('class-count-zero')).toHaveText('10');
  await expect(page.getByTestId('class-count-one')).toHaveText('10');

  // ← goes back; the view shows that image's label.
  await page.keyboard.press('ArrowLeft');
  await expect(page.getByTestId('focus-class')).toHaveText(/zero|one/);

  // A caption, saved with Ctrl+Enter.
  await page.getByTestId('focus-caption').fill('a handwritten digit');
  await page.getByTestId('focus-caption').press('Control+Enter');
  await expect(page.getByTestId('caption-status')).toHaveText('saved');
  await page.getByTestId('focus-caption').press('Escape');

  await page.keyboard.press('Escape');
  await expect(focus).toBeHidden();
  await expect(page.locator('[data-testid="thumb-tile"][data-class="zero"]')).toHaveCount(10);
});

test('bulk-label a shift-click range and a rubber band in the grid', async ({ studio, page }) => {
  const folder = tempDir('range');
  await writeLoose(folder, 'seven', 7, 12);
  await openStudioWithDataset(page, studio, 'Range');
  await importFolder(page, folder);
  await createClass(page, 'seven', '1');
  await createClass(page, 'other', '2');

  await tile(page, 2).click();
  await expect(page.getByTestId('selection-count')).toHaveText('1');
  await tile(page, 7).click({ modifiers: ['Shift'] });
  await expect(page.getByTestId('selection-count')).toHaveText('6');
  await page.keyboard.press('1');
  await expect(page.getByTestId('class-count-seven')).toHaveText('6');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('6');
  for (let i = 2; i <= 7; i++) await expect(tile(page, i)).toHaveAttribute('data-class', 'seven');
  await expect(tile(page, 1)).toHaveAttribute('data-class', '');
  await expect(tile(page, 8)).toHaveAttribute('data-class', '');

  // Ctrl-click adds single tiles; 0 unlabels the selection.
  await tile(page, 3).click();
  await tile(page, 5).click({ modifiers: ['Control'] });
  await expect(page.getByTestId('selection-count')).toHaveText('2');
  await page.keyboard.press('0');
  await expect(page.getByTestId('class-count-seven')).toHaveText('4');
  await expect(tile(page, 5)).toHaveAttribute('data-class', '');

  // A rubber band from tile 8 to tile 11 selects every tile its rectangle touches.
  const a = (await tile(page, 8).boundingBox())!;
  const b = (await tile(page, 11).boundingBox())!;
  const rect = {
    left: Math.min(a.x, b.x) + 10,
    right: Math.max(a.x, b.x) + 10,
    top: Math.min(a.y, b.y) + 10,
    bottom: Math.max(a.y, b.y) + 10,
  };
  let expected = 0;
  for (let i = 0; i < 12; i++) {
    const box = (await tile(page, i).boundingBox())!;
    if (box.x <= rect.right && box.x + box.width >= rect.left && box.y <= rect.bottom && box.y + box.height >= rect.top) expected++;
  }
  await page.mouse.move(a.x + 10, a.y + 10);
  await page.mouse.down();
  await page.mouse.move(b.x + 10, b.y + 10, { steps: 8 });
  await expect(page.getByTestId('rubber-band')).toBeVisible();
  await page.mouse.up();
  await expect(page.getByTestId('selection-count')).toHaveText(String(expected));
  await page.keyboard.press('2');
  await expect(page.getByTestId('class-count-other')).toHaveText(String(expected));
});

test('select a range with Shift+arrow keys from the clicked tile, and label it', async ({ studio, page }) => {
  const folder = tempDir('keys');
  await writeLoose(folder, 'four', 4, 16);
  await openStudioWithDataset(page, studio, 'Keys');
  await importFolder(page, folder);
  await createClass(page, 'four', '1');
  const columns = Number(await page.getByTestId('thumb-grid').getAttribute('aria-colcount'));
  expect(columns).toBeGreaterThan(1);
  expect(columns).toBeLessThan(12); // a row down from tile 3 stays inside the 16 tiles

  const selection = page.getByTestId('selection-count');
  await tile(page, 1).click();
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowRight');
  await expect(selection).toHaveText('4'); // tiles 1–4
  await page.keyboard.press('Shift+ArrowLeft');
  await expect(selection).toHaveText('3'); // back to 1–3: the range follows the keys from the anchor
  await page.keyboard.press('Shift+ArrowDown');
  const last = 3 + columns;
  await expect(selection).toHaveText(String(last)); // tiles 1 … 3 + a row
  await page.keyboard.press('1');
  await expect(page.getByTestId('class-count-four')).toHaveText(String(last));
  await expect(tile(page, 0)).toHaveAttribute('data-class', '');
  await expect(tile(page, 1)).toHaveAttribute('data-class', 'four');
  await expect(tile(page, last)).toHaveAttribute('data-class', 'four');
  await expect(tile(page, last + 1)).toHaveAttribute('data-class', '');
});

test('undo and redo put labels back and bring them again', async ({ studio, page }) => {
  const folder = tempDir('undo');
  await writeLoose(folder, 'four', 4, 8);
  await openStudioWithDataset(page, studio, 'Undo');
  await importFolder(page, folder);
  await createClass(page, 'four', '1');

  await tile(page, 0).click();
  await page.keyboard.press('Control+a');
  await expect(page.getByTestId('selection-count')).toHaveText('8');
  await page.keyboard.press('1');
  await expect(page.getByTestId('class-count-four')).toHaveText('8');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('0');

  await page.keyboard.press('Control+z');
  await expect(page.getByTestId('class-count-four')).toHaveText('0');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('8');
  await expect(tile(page, 0)).toHaveAttribute('data-class', '');

  await page.keyboard.press('Control+Shift+z');
  await expect(page.getByTestId('class-count-four')).toHaveText('8');
  await expect(tile(page, 0)).toHaveAttribute('data-class', 'four');

  await page.getByTestId('undo-button').click();
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('8');
  await page.keyboard.press('Control+y');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('0');
  await expect(page.getByTestId('class-count-four')).toHaveText('8');
});

test('filter to unlabeled images, by file name and by split', async ({ studio, page }) => {
  const folder = tempDir('filter');
  await writeDigitFolder(folder, { '3': 5 });
  await writeLoose(folder, 'loose', 9, 4);
  await openStudioWithDataset(page, studio, 'Filter');
  await importFolder(page, folder);
  await expect(page.getByTestId('thumb-tile')).toHaveCount(9);

  await page.getByRole('button', { name: /^Unlabeled/ }).click();
  await expect(page.getByTestId('filter-total')).toHaveText('4');
  await expect(page.getByTestId('thumb-tile')).toHaveCount(4);
  for (const t of await page.getByTestId('thumb-tile').all()) await expect(t).toHaveAttribute('data-class', '');

  await page.getByTestId('filter-search').fill('loose-2');
  await expect(page.getByTestId('thumb-tile')).toHaveCount(1);
  await expect(page.getByTestId('thumb-tile')).toHaveAttribute('data-file-name', 'loose-2.png');

  await page.getByRole('button', { name: /^All/ }).click();
  await page.getByTestId('filter-search').fill('');
  await page.getByTestId('filter-split').selectOption('train');
  await expect(page.getByTestId('filter-total')).toHaveText('0');
  await page.getByTestId('filter-split').selectOption('none');
  await expect(page.getByTestId('filter-total')).toHaveText('9');
  await page.getByTestId('filter-split').selectOption('');

  // A second import batch, and the filter that shows only it.
  const more = tempDir('filter-more');
  await writeLoose(more, 'late', 2, 3);
  await importFolder(page, more);
  await expect(page.getByTestId('filter-total')).toHaveText('12');
  const batch = page.getByTestId('filter-import').locator('option', { hasText: more });
  await page.getByTestId('filter-import').selectOption((await batch.getAttribute('value'))!);
  await expect(page.getByTestId('filter-total')).toHaveText('3');
  await expect(page.getByTestId('thumb-tile')).toHaveCount(3);
  for (const t of await page.getByTestId('thumb-tile').all()) await expect(t).toHaveAttribute('data-file-name', /^late-/);
});

test('filter by what a run predicted, and by prediction disagreeing with the label', async ({ studio, page }) => {
  const folder = tempDir('predicted');
  await writeDigitFolder(folder, { '3': 4, '5': 4 });
  await openStudioWithDataset(page, studio, 'Predicted');
  await importFolder(page, folder);
  const datasetId = Number(/#\/datasets\/(\d+)/.exec(page.url())?.[1]);

  // An evaluation's predictions, written into the studio's database as runs.evaluate stores them
  // (training and scoring a real run takes minutes; the evaluation service test covers that path):
  // every image predicted 3, except two 5s predicted 5.
  const store = openStore(join(studio.home, 'studio.db'));
  const images = store.images.page(datasetId, {}, 0, 100).items;
  const five = store.datasets.classes(datasetId).find((c) => c.name === '5')!.id;
  const runId = store.runs.create('seeded evaluation', datasetId, null, 'lora', {});
  let fivesPredictedFive = 0;
  store.predictions.save(
    runId,
    datasetId,
    images.map((image) => ({ imageHash: image.hash, className: image.classId === five && fivesPredictedFive++ < 2 ? '5' : '3', confidence: 0.8 })),
  );
  store.close();
  await page.reload();

  await page.getByTestId('filter-prediction-run').selectOption(String(runId));
  await expect(page.getByTestId('filter-total')).toHaveText('8');
  await page.getByTestId('filter-prediction').selectOption('disagrees');
  await expect(page.getByTestId('filter-total')).toHaveText('2');
  await expect(page.getByTestId('thumb-tile')).toHaveCount(2);
  for (const t of await page.getByTestId('thumb-tile').all()) await expect(t).toHaveAttribute('data-class', '5');
  await page.getByTestId('filter-prediction').selectOption(String(five));
  await expect(page.getByTestId('filter-total')).toHaveText('2');

  // Relabeling a disagreeing image as predicted takes it out of the disagreeing view.
  await page.getByTestId('filter-prediction').selectOption('disagrees');
  await expect(page.getByTestId('thumb-tile')).toHaveCount(2);
  await tile(page, 0).click();
  await page.getByTestId('selection-label').selectOption({ label: '3 (1)' });
  await expect(page.getByTestId('filter-total')).toHaveText('1');
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await expect(page.getByTestId('filter-total')).toHaveText('8');
});

test('relabel images from a run\'s evaluation with a hotkey, and undo it there', async ({ studio, page }) => {
  // A tiny greyscale ViT trained for 6 steps: seconds, not the minutes of a real run.
  const folder = tempDir('relabel');
  await writeDigitFolder(folder, { '0': 8, '1': 8 });
  const call = async <T,>(channel: string, input: unknown): Promise<T> => {
    const response = await fetch(`${studio.origin}/api/${channel}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${studio.token}` },
      body: JSON.stringify(input),
    });
    const envelope = (await response.json()) as { ok: boolean; value: T; error?: { message: string } };
    if (!envelope.ok) throw new Error(`${channel}: ${envelope.error?.message}`);
    return envelope.value;
  };
  const dataset = await call<{ id: number }>('datasets.create', { name: 'Relabel' });
  const started = await call<{ importId: number }>('imports.start', { datasetId: dataset.id, source: { kind: 'folder', path: folder } });
  await expect.poll(async () => (await call<{ status: string }>('imports.get', { id: started.importId })).status).toBe('done');
  const model = await call<{ id: number }>('models.import', { path: join(__dirname, '../test/fixtures/vit/hf_gelutanh_nobias_grey') });
  const run = await call<{ id: number }>('runs.create', {
    datasetId: dataset.id, modelId: model.id, method: 'lora', steps: 6, batchSize: 4, lr: 1e-2, seed: 3, valFraction: 0.25, evalEvery: 3, checkpointEvery: 3,
  });
  await expect.poll(async () => (await call<{ status: string }>('runs.get', { id: run.id })).status, { timeout: 60_000 }).toBe('done');

  await page.goto(studio.url);
  await page.evaluate(`location.hash = '#/runs/${run.id}'`);
  await page.getByTestId('eval-run').click();
  await expect(page.getByTestId('eval-accuracy')).toHaveText(/%/, { timeout: 60_000 });
  // The images behind the first non-empty cell of the confusion matrix.
  const cells = page.locator('[data-testid^="confusion-cell-"]');
  const filled = (await cells.allTextContents()).map(Number).findIndex((n) => n > 0);
  const [, trueClass] = /^confusion-cell-(\d+)-/.exec((await cells.nth(filled).getAttribute('data-testid'))!)!;
  await cells.nth(filled).click();
  const image = page.getByTestId('eval-images').getByTestId('eval-image').first();
  const imageId = Number(await image.getAttribute('data-image-id'));
  await image.getByRole('button').click();
  await expect(page.getByTestId('eval-selection-count')).toHaveText('1');

  // Classes 0 and 1 have hotkeys 1 and 2: label the image as the class it is not.
  const other = trueClass === '0' ? '1' : '0';
  await page.keyboard.press(other === '0' ? '1' : '2');
  await expect(page.getByTestId('eval-images').getByTestId('eval-image-relabeled').first()).toHaveText(`now ${other}`);
  const classOf = async () => {
    const detail = await call<{ classes: { id: number; name: string }[] }>('datasets.get', { id: dataset.id });
    const items = (await call<{ items: { id: number; classId: number }[] }>('images.page', { datasetId: dataset.id, offset: 0, limit: 100 })).items;
    return detail.classes.find((c) => c.id === items.find((i) => i.id === imageId)!.classId)!.name;
  };
  expect(await classOf()).toBe(other);

  await page.keyboard.press('Control+z');
  await expect(page.getByTestId('eval-image-relabeled')).toHaveCount(0);
  expect(await classOf()).toBe(trueClass);
  await expect(page.getByTestId('eval-relabel-undo')).toBeDisabled();
});

test('make a stratified split and move images between splits by hand', async ({ studio, page }) => {
  const folder = tempDir('split');
  await writeDigitFolder(folder, { '0': 10, '1': 20 });
  await openStudioWithDataset(page, studio, 'Split');
  await importFolder(page, folder);
  await expect(page.getByTestId('split-count-none')).toHaveText('30');

  await page.getByTestId('split-train').fill('60');
  await page.getByTestId('split-val').fill('20');
  await page.getByTestId('split-test').fill('20');
  await page.getByTestId('split-seed').fill('7');
  await page.getByTestId('split-make').click();
  await expect(page.getByTestId('split-count-train')).toHaveText('18');
  await expect(page.getByTestId('split-count-val')).toHaveText('6');
  await expect(page.getByTestId('split-count-test')).toHaveText('6');
  await expect(page.getByTestId('split-count-none')).toHaveText('0');
  const perClass = { '0': [6, 2, 2], '1': [12, 4, 4] };
  for (const [name, [train, val, test]] of Object.entries(perClass)) {
    await expect(page.getByTestId(`split-class-count-${name}-train`)).toHaveText(String(train));
    await expect(page.getByTestId(`split-class-count-${name}-val`)).toHaveText(String(val));
    await expect(page.getByTestId(`split-class-count-${name}-test`)).toHaveText(String(test));
  }

  // Manual override: one training image goes to val.
  await page.getByTestId('filter-split').selectOption('train');
  await expect(page.getByTestId('filter-total')).toHaveText('18');
  await tile(page, 0).click();
  await page.getByTestId('selection-split').selectOption('val');
  await expect(page.getByTestId('split-count-train')).toHaveText('17');
  await expect(page.getByTestId('split-count-val')).toHaveText('7');

  // The dataset's card on the datasets list has the counts at a glance.
  await page.getByRole('link', { name: 'Datasets' }).first().click();
  await expect(page.getByTestId('card-image-count')).toHaveText('30');
  await expect(page.getByTestId('card-labeled-count')).toHaveText('30');
  await expect(page.getByTestId('card-class-count')).toHaveText('2');
  await expect(page.getByTestId('card-split-train')).toHaveText('17 train');
  await expect(page.getByTestId('card-split-val')).toHaveText('7 val');
  await expect(page.getByTestId('card-split-test')).toHaveText('6 test');
  await expect(page.getByTestId('card-split-none')).toHaveCount(0);
});

test('export, then import the export into a new dataset with identical labels', async ({ studio, page }) => {
  const folder = tempDir('export');
  await writeDigitFolder(folder, { '2': 4, '5': 3 });
  await writeLoose(folder, 'loose', 6, 2);
  await openStudioWithDataset(page, studio, 'Original');
  await importFolder(page, folder);

  // Label one of the loose images as "2" so the export carries a label made here.
  await page.getByRole('button', { name: /^Unlabeled/ }).click();
  await expect(page.getByTestId('thumb-tile')).toHaveCount(2);
  await expect(page.getByTestId('class-hotkey-2')).toHaveText('1');
  await tile(page, 0).click();
  await page.keyboard.press('1');
  await expect(page.getByTestId('class-count-2')).toHaveText('5');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('1');

  const out = join(tempDir('out'), 'export');
  await page.getByTestId('export-path').fill(out);
  await page.getByTestId('export-start').click();
  await expect(page.getByTestId('export-count')).toHaveText('9');
  await expect(page.getByTestId('export-result-path')).toHaveText(out);

  await page.getByRole('link', { name: 'Datasets' }).first().click();
  await createDataset(page, 'Copy');
  await importFolder(page, out);
  await expect(page.getByTestId('import-added')).toHaveText('9');
  await expect(page.getByTestId('dataset-image-count')).toHaveText('9');
  await expect(page.getByTestId('class-count-2')).toHaveText('5');
  await expect(page.getByTestId('class-count-5')).toHaveText('3');
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('1');
});

test('a label the studio refuses is taken back, with a toast saying why', async ({ studio, page }) => {
  const folder = tempDir('refuse');
  await writeLoose(folder, 'eight', 8, 3);
  await openStudioWithDataset(page, studio, 'Refuse');
  await importFolder(page, folder);
  await createClass(page, 'eight', '1');

  await page.route('**/api/labels.set', (route) => route.fulfill({ json: { ok: false, error: { code: 'io', message: 'the disk is full' } } }));
  await tile(page, 0).click();
  await page.keyboard.press('1');
  await expect(page.getByText(/the disk is full/)).toBeVisible();
  await expect(tile(page, 0)).toHaveAttribute('data-class', '');
  await expect(page.getByTestId('class-count-eight')).toHaveText('0');

  await page.unroute('**/api/labels.set');
  await tile(page, 0).click();
  await page.keyboard.press('1');
  await expect(tile(page, 0)).toHaveAttribute('data-class', 'eight');
  await expect(page.getByTestId('class-count-eight')).toHaveText('1');
});

test('rename, recolour, merge and delete classes', async ({ studio, page }) => {
  const folder = tempDir('classes');
  await writeDigitFolder(folder, { '1': 3, '2': 2, '3': 1, '4': 2 });
  await openStudioWithDataset(page, studio, 'Classes');
  await importFolder(page, folder);
  await expect(page.getByTestId('class-hotkey-4')).toHaveText('4');

  await page.getByTestId('class-rename-1').click();
  await page.getByTestId('class-rename-input').fill('one');
  await page.getByTestId('class-rename-input').press('Enter');
  await expect(page.getByTestId('class-count-one')).toHaveText('3');
  await expect(page.getByTestId('class-hotkey-one')).toHaveText('1');

  await page.getByTestId('class-color-2').fill('#ff0000');
  await expect(page.getByTestId('class-color-2')).toHaveValue('#ff0000');

  await page.getByTestId('class-merge-3').click();
  await page.getByTestId('merge-target').selectOption({ label: '2 (2)' });
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  await expect(page.getByTestId('class-count-2')).toHaveText('3');
  await expect(page.getByTestId('class-count-3')).toHaveCount(0);

  await page.getByTestId('class-delete-4').click();
  await page.getByTestId('delete-images').check();
  await page.getByRole('button', { name: /Delete class and 2 images/ }).click();
  await expect(page.getByTestId('dataset-image-count')).toHaveText('6');

  await page.getByTestId('class-delete-one').click();
  await page.getByRole('button', { name: 'Delete class', exact: true }).click();
  await expect(page.getByTestId('dataset-unlabeled-count')).toHaveText('3');
  await expect(page.getByTestId('dataset-image-count')).toHaveText('6');

  // The colour was saved by the studio, not only shown.
  await page.reload();
  await expect(page.getByTestId('class-color-2')).toHaveValue('#ff0000');
});
