import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digitPng, writeDigitFolder } from '../test/digits';
import { truncated } from '../test/bad-files';
import { expect, test } from './studio';

test('the API refuses every call without the token, and serves the studio with it', async ({ studio, playwright }) => {
  const anonymous = await playwright.request.newContext();
  const api = await anonymous.post(`${studio.origin}/api/datasets.list`, { data: {} });
  expect(api.status()).toBe(401);
  expect((await anonymous.get(`${studio.origin}/`)).status()).toBe(401);
  const authorised = await anonymous.post(`${studio.origin}/api/datasets.list`, {
    data: {},
    headers: { authorization: `Bearer ${studio.token}` },
  });
  expect(authorised.status()).toBe(200);
  expect(await authorised.json()).toEqual({ ok: true, value: [] });
  await anonymous.dispose();
});

test('import a folder of real digits with a broken file and a text file', async ({ studio, page }) => {
  const folder = mkdtempSync(join(tmpdir(), 'studio-e2e-images-'));
  await writeDigitFolder(folder, { '3': 12, '5': 9, '8': 6 });
  writeFileSync(join(folder, '5', 'broken.png'), truncated(await digitPng(5, 50)));
  writeFileSync(join(folder, '8', 'readme.txt'), 'these are handwritten eights');

  await page.goto(studio.url);
  await expect(page.getByText('remote shell')).toBeVisible();
  await page.getByLabel('Dataset name').fill('Digits');
  await page.getByRole('button', { name: 'Create dataset' }).click();

  // Creating a dataset opens it.
  await expect(page.getByRole('heading', { name: 'Digits' })).toBeVisible();
  await page.getByTestId('import-path').fill(folder);
  await page.getByTestId('import-start').click();

  const report = page.getByTestId('import-report');
  await expect(report).toBeVisible();
  await expect(report).toHaveAttribute('data-status', 'done');
  await expect(page.getByTestId('import-added')).toHaveText('27');
  await expect(page.getByTestId('import-skipped')).toHaveText('2');
  const issues = page.getByTestId('import-issue');
  await expect(issues).toHaveCount(2);
  await expect(issues.filter({ hasText: 'broken.png' })).toContainText(/truncated or corrupt/);
  await expect(issues.filter({ hasText: 'readme.txt' })).toContainText(/not an image/);

  await expect(page.getByTestId('dataset-image-count')).toHaveText('27');
  await expect(page.getByTestId('class-count-3')).toHaveText('12');
  await expect(page.getByTestId('class-count-5')).toHaveText('9');
  await expect(page.getByTestId('class-count-8')).toHaveText('6');

  // Thumbnails are real decoded images served by the studio, not broken links.
  const tiles = page.getByTestId('thumb-tile');
  await expect(tiles.first()).toBeVisible();
  const firstImage = tiles.first().locator('img');
  await expect(firstImage).toHaveJSProperty('complete', true);
  expect(await firstImage.evaluate((img) => (img as { naturalWidth: number }).naturalWidth)).toBe(28);
  expect(await tiles.count()).toBeGreaterThanOrEqual(20);

  await page.screenshot({ path: 'docs/screenshots/dataset.png' });
});
