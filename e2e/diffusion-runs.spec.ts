import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { fashionMnistDir, makeFashionFolder } from '../scripts/make-fashion-folder';
import { expect, test } from './studio';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });

test('a LoRA diffusion run on the built-in DiT: its dry-run estimate, then the base model samples and the samples of a training step', async ({ studio, page }) => {
  test.skip(!fashionMnistDir(), 'needs Debian package dataset-fashion-mnist');
  test.setTimeout(150_000);
  const folder = mkdtempSync(join(tmpdir(), 'studio-e2e-trousers-'));
  try {
    // Six real Fashion-MNIST trousers: one class, named like one of the model's.
    await makeFashionFolder(folder, 6, [1]);
    await page.goto(studio.url);
    await page.getByLabel('Dataset name').fill('Trousers');
    await page.getByRole('button', { name: 'Create dataset' }).click();
    await expect(page.getByRole('heading', { name: 'Trousers' })).toBeVisible();
    await page.getByTestId('import-path').fill(folder);
    await page.getByTestId('import-start').click();
    await expect(page.getByTestId('import-report')).toHaveAttribute('data-status', 'done');

    await nav(page, 'Runs').click();
    await page.getByRole('button', { name: 'New run', exact: true }).click();
    const model = page.getByLabel('Base model');
    await model.selectOption((await model.locator('option', { hasText: 'dit-fashion' }).getAttribute('value'))!);
    await expect(page.getByTestId('diffusion-run-hint')).toContainText('Trouser');
    // A DiT offers the methods that act on it, and no validation settings.
    expect((await page.getByLabel('Method', { exact: true }).locator('option').allTextContents()).sort()).toEqual(['full', 'lora', 'sara', 'ssf']);
    await expect(page.getByLabel('Validation fraction', { exact: true })).toHaveCount(0);
    await page.getByLabel('Method', { exact: true }).selectOption('lora');
    await page.getByLabel('Run name').fill('Trouser LoRA');
    await page.getByLabel('Steps', { exact: true }).fill('4');
    await page.getByLabel('Batch size', { exact: true }).fill('4');
    await page.getByLabel('Samples every', { exact: true }).fill('2');
    await page.getByLabel('Samples per grid', { exact: true }).fill('4');
    await page.getByLabel('Sampling steps', { exact: true }).fill('2');

    // The dry run measures these settings: steps, one sample grid, and the grids the run will draw
    // (the base model's, steps 2 and 4).
    await page.getByRole('button', { name: 'Estimate (dry run)' }).click();
    const estimate = page.getByTestId('run-estimate');
    await expect(estimate).toBeVisible({ timeout: 60_000 });
    await expect(estimate).toHaveAttribute('data-fits', /yes|tight/);
    await expect(page.getByTestId('estimate-params')).toContainText(' of ');
    await expect(page.getByTestId('estimate-step')).toHaveText(/^\d+(\.\d+)? m?s \(median of 3\)$/);
    await expect(page.getByTestId('estimate-previews')).toHaveText(/^3 × \d+(\.\d+)? m?s = \d+(\.\d+)? m?s \([\d.]+% of the time; measured: one grid of 4 samples × 2 DDIM steps\)$/);
    await expect(page.getByTestId('estimate-eta')).toHaveText(/\d+s$/);
    await expect(page.getByTestId('estimate-memory')).toContainText('free');
    await page.getByRole('button', { name: 'Start run' }).click();
    await expect(page.getByRole('heading', { name: 'Trouser LoRA' })).toBeVisible();

    // The base model's grid first, then a training step's, with the same number of samples.
    const base = page.getByTestId('samples-base');
    await expect(base.getByRole('img')).toHaveCount(4, { timeout: 45_000 });
    const steps = page.getByTestId('samples-step');
    await expect(steps.first().getByRole('img')).toHaveCount(4, { timeout: 45_000 });
    await expect(steps.first()).toHaveAttribute('data-step', '2');
    await expect(page.getByTestId('run-conditioning')).toContainText('class-conditional: Trouser');
    await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 45_000 });
    await expect(steps).toHaveCount(2);
    await expect(steps.last()).toHaveClass(/run-samples-newest/);
    await page.screenshot({ path: 'docs/screenshots/diffusion-run.png' });
    // A click enlarges a sample.
    await steps.last().getByRole('button').first().click();
    await expect(page.getByTestId('sample-enlarged')).toBeVisible();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
