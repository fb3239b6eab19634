import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from '@playwright/test';
import { makeFashionFolder } from '../scripts/make-fashion-folder';
import { sharedPath } from '../test/shared';
import { expect, test } from './studio';

/** A section link of the sidebar (breadcrumbs link the same places). */
const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });
const stepOf = async (page: Page) => Number(((await page.getByTestId('run-step').textContent()) ?? '').split('/')[0]!.replace(/\D/g, ''));
const pointsOf = async (chart: Locator) => Number((await chart.getAttribute('data-points')) ?? '0');

async function startRun(page: Page, options: { name: string; steps: number; r: number; estimate?: boolean }) {
  await nav(page, 'Runs').click();
  await page.getByRole('button', { name: 'New run', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'New run' })).toBeVisible();
  await page.getByLabel('Run name').fill(options.name);
  await expect(page.getByLabel('Dataset', { exact: true })).toContainText('Fashion');
  await expect(page.getByLabel('Base model')).toContainText('vit-mnist');
  await page.getByLabel('Method', { exact: true }).selectOption('lora');
  await expect(page.getByTestId('method-description')).toContainText('low-rank');
  // The method's options arrive as fields prefilled with their defaults.
  await expect(page.getByLabel('r', { exact: true })).toHaveValue('8');
  await expect(page.getByLabel('targets', { exact: true })).toHaveValue('query, value');
  await page.getByLabel('r', { exact: true }).fill(String(options.r));
  await page.getByLabel('Steps', { exact: true }).fill(String(options.steps));
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Learning rate', { exact: true }).fill('0.003');
  await page.getByLabel('Validation fraction', { exact: true }).fill('0.2');
  await page.getByLabel('Evaluate every', { exact: true }).fill('10');
  await page.getByLabel('Checkpoint every', { exact: true }).fill('10');
  if (options.estimate) {
    // A dry run of a few steps in a worker: parameters, step time, memory against this machine.
    await page.getByRole('button', { name: 'Estimate (dry run)' }).click();
    const estimate = page.getByTestId('run-estimate');
    await expect(estimate).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('estimate-params')).toContainText('%');
    await expect(page.getByTestId('estimate-step')).toContainText(/\d+ m?s/);
    await expect(estimate).toHaveAttribute('data-fits', /^(yes|tight|no)$/);
  }
  await page.getByRole('button', { name: 'Start run' }).click();
  // Starting a run opens its page.
  await expect(page.getByRole('heading', { name: options.name })).toBeVisible();
}

test('train a LoRA run on Fashion-MNIST: live charts, stop, resume, finish, compare with a second run', async ({ studio, page }) => {
  const model = sharedPath('models/vit-mnist');
  test.skip(!model, 'needs ../shared/models/vit-mnist');
  test.setTimeout(240_000);
  const folder = mkdtempSync(join(tmpdir(), 'studio-e2e-fashion-'));
  // T-shirt/top, Trouser and Sneaker: 3 classes × 12 real Fashion-MNIST images.
  await makeFashionFolder(folder, 12, [0, 1, 7]);

  await page.goto(studio.url);
  await expect(page.getByText('remote shell')).toBeVisible();

  // The base model, imported through the Models page.
  await nav(page, 'Models').click();
  // A folder that is no model is refused inline.
  await page.getByLabel('Model folder').fill(folder);
  await page.getByRole('button', { name: 'Import model' }).click();
  await expect(page.locator('#model-path-error')).toBeVisible();
  await expect(page.getByTestId('model-row')).toHaveCount(0);
  await page.getByLabel('Model folder').fill(model!);
  await page.getByRole('button', { name: 'Import model' }).click();
  await expect(page.getByTestId('model-row')).toHaveCount(1);
  await expect(page.getByTestId('model-row')).toContainText('vit-mnist');

  // The dataset, imported through the Datasets page.
  await nav(page, 'Datasets').click();
  await page.getByLabel('Dataset name').fill('Fashion');
  await page.getByRole('button', { name: 'Create dataset' }).click();
  await expect(page.getByRole('heading', { name: 'Fashion' })).toBeVisible();
  await page.getByTestId('import-path').fill(folder);
  await page.getByTestId('import-start').click();
  await expect(page.getByTestId('import-report')).toHaveAttribute('data-status', 'done');
  await expect(page.getByTestId('dataset-image-count')).toHaveText('36');

  // A LoRA run: its page shows live progress and a growing loss chart.
  await startRun(page, { name: 'LoRA r8', steps: 40, r: 8, estimate: true });
  const runId = Number(/#\/runs\/(\d+)/.exec(page.url())?.[1]);
  const status = page.getByTestId('run-status');
  const loss = page.getByTestId('chart-loss');
  await expect(status).toHaveText('running', { timeout: 60_000 });
  await expect(page.getByTestId('run-params')).toContainText('%');
  await expect(page.getByTestId('run-backend')).not.toHaveText('—');
  await expect.poll(() => pointsOf(loss), { timeout: 60_000 }).toBeGreaterThan(2);
  const early = await pointsOf(loss);
  await expect.poll(() => stepOf(page), { timeout: 60_000 }).toBeGreaterThanOrEqual(12);
  await expect.poll(() => pointsOf(loss)).toBeGreaterThan(early);

  // Save a checkpoint now: the worker saves one at its next step, the log tail tells so.
  const log = page.getByTestId('run-log');
  await page.getByRole('button', { name: 'Save checkpoint now' }).click();
  await expect(log).toContainText('checkpoint requested');
  await expect(log).toContainText(/checkpoint saved at step \d+/);
  await expect(page.getByTestId('run-checkpoints')).not.toHaveAttribute('data-latest', '');
  await expect(log).toContainText('backend ');

  // Stop: the run stops part-way and can be resumed.
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(status).toHaveText('stopped', { timeout: 60_000 });
  const stoppedAt = await stepOf(page);
  expect(stoppedAt).toBeLessThan(40);
  await expect(page.getByRole('button', { name: 'Stop' })).toHaveCount(0);

  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(status).toHaveText('done', { timeout: 150_000 });
  await expect(page.getByTestId('run-step')).toHaveText('40 / 40');
  await expect.poll(() => pointsOf(loss)).toBe(40);
  await expect.poll(() => pointsOf(page.getByTestId('chart-accuracy'))).toBe(4);
  await expect(page.getByRole('button', { name: 'Resume' })).toHaveCount(0);
  await page.screenshot({ path: 'docs/screenshots/run.png' });

  // Evaluation of the finished run on its validation images: accuracy, per-class table and a
  // confusion matrix whose cells open the images behind them.
  await page.getByTestId('eval-split').selectOption('val');
  await page.getByTestId('eval-run').click();
  await expect(page.getByTestId('eval-accuracy')).toHaveText(/%/, { timeout: 60_000 });
  const cells = page.locator('[data-testid^="confusion-cell-"]');
  await expect(cells).toHaveCount(9);
  const counts = (await cells.allTextContents()).map(Number);
  // 20 % of 12 images per class, held out per class: 2 × 3.
  expect(counts.reduce((a, b) => a + b, 0)).toBe(6);
  const filled = counts.findIndex((c) => c > 0);
  await cells.nth(filled).click();
  await expect(page.getByTestId('eval-images').getByTestId('eval-image')).toHaveCount(counts[filled]!);
  await page.setViewportSize({ width: 1360, height: 1500 });
  await page.getByTestId('eval-panel').scrollIntoViewIfNeeded();
  await page.screenshot({ path: 'docs/screenshots/evaluation.png' });
  await page.setViewportSize({ width: 1360, height: 860 });

  // Export the adapter (remote shell: into the data folder, and as downloads).
  await page.getByTestId('run-export').scrollIntoViewIfNeeded();
  await page.getByRole('button', { name: 'Export into the data folder' }).click();
  await expect(page.getByTestId('export-result')).toContainText('Exported 4 files');
  const exported = join(studio.home, 'exports', `run-${runId}`);
  expect(existsSync(join(exported, 'adapter', 'adapter_model.safetensors'))).toBe(true);
  expect(JSON.parse(readFileSync(join(exported, 'adapter', 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA', r: 8 });
  expect(readFileSync(join(exported, 'metrics.csv'), 'utf8').split('\n')[0]).toBe('name,context,step,value,time');
  const download = page.getByTestId('run-download').filter({ hasText: 'adapter/adapter_config.json' });
  const fetched = await page.request.get(new URL((await download.getAttribute('href'))!, studio.url).href);
  expect(fetched.status()).toBe(200);
  expect(((await fetched.json()) as { peft_type: string }).peft_type).toBe('LORA');

  // A second, quicker run with a smaller rank, then both compared.
  await startRun(page, { name: 'LoRA r2', steps: 10, r: 2 });
  await expect(status).toHaveText('done', { timeout: 90_000 });
  // Extend the finished run by 5 steps: it resumes from its last checkpoint to 15.
  await page.getByLabel('Steps to add').fill('5');
  await page.getByRole('button', { name: 'Extend by 5 steps' }).click();
  await expect(page.getByTestId('run-step')).toHaveText('15 / 15', { timeout: 90_000 });
  await expect(status).toHaveText('done', { timeout: 90_000 });

  await nav(page, 'Runs').click();
  const rows = page.getByTestId('run-row');
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: 'LoRA r8' })).toContainText('40 / 40');
  await page.getByRole('checkbox', { name: 'Select LoRA r8' }).check();
  await page.getByRole('checkbox', { name: 'Select LoRA r2' }).check();
  await page.getByRole('button', { name: /^Compare/ }).click();

  const compare = page.getByTestId('compare-view');
  await expect(compare.getByTestId('compare-run')).toHaveCount(2);
  await expect(compare.getByTestId('compare-run').filter({ hasText: 'LoRA r8' })).toBeVisible();
  await expect(compare.getByTestId('compare-run').filter({ hasText: 'LoRA r2' })).toBeVisible();
  await expect.poll(() => pointsOf(page.getByTestId('chart-compare-loss'))).toBe(55);
  const config = page.getByTestId('compare-config');
  await expect(config.locator('tr[data-key="methodOptions.r"]')).toHaveAttribute('data-differs', 'true');
  await expect(config.locator('tr[data-key="batchSize"]')).toHaveAttribute('data-differs', 'false');
  // The page scrolls inside the app frame: a taller window shows the hyper-parameter table too.
  await page.setViewportSize({ width: 1360, height: 1400 });
  await page.screenshot({ path: 'docs/screenshots/compare.png' });
  await page.setViewportSize({ width: 1360, height: 860 });

  // Clicking a row opens that run.
  await nav(page, 'Runs').click();
  await rows.filter({ hasText: 'LoRA r2' }).locator('td').nth(2).click();
  await expect(page.getByRole('heading', { name: 'LoRA r2' })).toBeVisible();
});
