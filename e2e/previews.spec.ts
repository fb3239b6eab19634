import type { Page } from '@playwright/test';
import { digitPng } from '../test/digits';
import { sharedPath } from '../test/shared';
import { expect, test } from './studio';

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name });

/** Drops a file on an element as the browser does: a drop event carrying a DataTransfer with the file. */
async function dropFile(page: Page, testId: string, name: string, bytes: Buffer) {
  const dataTransfer = await page.evaluateHandle(
    ({ base64, fileName }) => {
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], fileName, { type: 'image/png' }));
      return transfer;
    },
    { base64: bytes.toString('base64'), fileName: name },
  );
  await page.getByTestId(testId).dispatchEvent('dragover', { dataTransfer });
  await page.getByTestId(testId).dispatchEvent('drop', { dataTransfer });
}

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
  expect(await overlay.evaluate((c: HTMLCanvasElement) => c.getContext('2d')!.getImageData(0, 0, 7, 7).data.some((v, i) => i % 4 === 3 && v > 0))).toBe(true);

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
