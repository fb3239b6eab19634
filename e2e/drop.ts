import type { Page } from '@playwright/test';

interface BrowserGlobals {
  atob(base64: string): string;
  DataTransfer: new () => { items: { add(file: unknown): void } };
  File: new (parts: Uint8Array[], name: string, options: { type: string }) => unknown;
}

/** Drops a file on an element as the browser does: a drop event carrying a DataTransfer with the file. */
export async function dropFile(page: Page, testId: string, name: string, bytes: Buffer) {
  const dataTransfer = await page.evaluateHandle(
    ({ base64, fileName }) => {
      // Runs in the page; the specs are compiled without the DOM library, hence the shapes spelled out.
      const browser = globalThis as unknown as BrowserGlobals;
      const data = Uint8Array.from(browser.atob(base64), (c) => c.charCodeAt(0));
      const transfer = new browser.DataTransfer();
      transfer.items.add(new browser.File([data], fileName, { type: 'image/png' }));
      return transfer;
    },
    { base64: bytes.toString('base64'), fileName: name },
  );
  await page.getByTestId(testId).dispatchEvent('dragover', { dataTransfer });
  await page.getByTestId(testId).dispatchEvent('drop', { dataTransfer });
}
