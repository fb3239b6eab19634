import type { Page } from '@playwright/test';
import { digitPng } from '../test/digits';
import { dropFile } from './drop';
import { expect, test } from './studio';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });

/** Whether every image of a locator has loaded with the model's 28×28 pixels. */
const loaded28 = (page: Page, testId: string) =>
  page.getByTestId(testId).evaluateAll((images) => images.every((img) => (img as unknown as { naturalWidth: number }).naturalWidth === 28));

test('sample a class with the built-in starter DiT (same seed, same images), edit a dropped image and keep it in a dataset', async ({ studio, page }) => {
  await page.goto(studio.url);
  await page.getByLabel('Dataset name').fill('Kept');
  await page.getByRole('button', { name: 'Create dataset' }).click();
  await expect(page.getByRole('heading', { name: 'Kept' })).toBeVisible();

  await nav(page, 'Generate').click();
  await expect(page.getByRole('heading', { name: 'Generate' })).toBeVisible();
  await expect(page.getByLabel('Diffusion model')).toContainText('dit-fashion (built-in)');

  // Sample tab: four sneakers in four steps.
  await page.getByLabel('Class', { exact: true }).selectOption({ label: 'Sneaker' });
  await page.getByLabel('Samples', { exact: true }).fill('4');
  await page.getByLabel('Steps', { exact: true }).fill('4');
  await page.getByLabel('Seed', { exact: true }).fill('5');
  await page.getByRole('button', { name: 'Generate', exact: true }).click();
  const samples = page.getByTestId('sample-image');
  await expect(samples).toHaveCount(4, { timeout: 60_000 });
  await expect.poll(() => loaded28(page, 'sample-image')).toBe(true);
  const hashes = await samples.evaluateAll((images) => images.map((img) => (img as unknown as { dataset: { hash: string } }).dataset.hash));
  expect(new Set(hashes).size).toBe(4);
  await page.screenshot({ path: 'docs/screenshots/generate-sample.png' });
  // The same seed gives the same images.
  await page.getByRole('button', { name: 'Generate', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Generate', exact: true })).toBeEnabled({ timeout: 60_000 });
  expect(await samples.evaluateAll((images) => images.map((img) => (img as unknown as { dataset: { hash: string } }).dataset.hash))).toEqual(hashes);

  // Edit tab: a dropped image towards "Trouser"; without a fine-tuned model β has no effect, and the page says so.
  await page.getByRole('tab', { name: 'Edit' }).click();
  await expect(page.getByTestId('beta-note')).toContainText('β = 0');
  await dropFile(page, 'edit-drop', 'seven.png', await digitPng(7, 0));
  await expect(page.getByTestId('edit-input')).toBeVisible();
  await page.getByLabel('Target class').selectOption({ label: 'Trouser' });
  await page.getByLabel('Noise level t0').fill('0.6');
  await page.getByLabel('Steps', { exact: true }).fill('4');
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await expect(page.getByTestId('edit-after')).toBeVisible({ timeout: 60_000 });
  await expect.poll(() => loaded28(page, 'edit-before')).toBe(true);
  await expect.poll(() => loaded28(page, 'edit-after')).toBe(true);
  await expect(page.getByText('After: Trouser')).toBeVisible();

  // Keep the result in the dataset, labeled Trouser.
  await page.getByLabel('Keep in dataset').selectOption({ label: 'Kept' });
  await expect(page.getByLabel('Label as')).toHaveValue('Trouser');
  await page.getByRole('button', { name: 'Keep', exact: true }).click();
  await expect(page.getByTestId('keep-status')).toContainText('Kept in Kept as Trouser');
  await page.screenshot({ path: 'docs/screenshots/generate-edit.png' });
  await nav(page, 'Datasets').click();
  await page.getByRole('link', { name: 'Kept' }).first().click();
  await expect(page.getByTestId('dataset-image-count')).toHaveText('1', { timeout: 30_000 });
});
