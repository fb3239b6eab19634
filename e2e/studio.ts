import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from '@playwright/test';
import { spawnRemoteShell } from '../test/remote-shell';

export interface RunningStudio {
  url: string;
  origin: string;
  token: string;
  home: string;
}

/** Starts the built remote shell on a fresh data folder, as `npm start` would, and stops it after. */
async function startStudio(): Promise<{ studio: RunningStudio; stop: () => Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), 'studio-e2e-'));
  const { child, ready } = spawnRemoteShell(home);
  const address = await ready;
  return {
    studio: { ...address, home },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export const test = base.extend<{ studio: RunningStudio }>({
  // Playwright reads a fixture's dependencies from its destructuring pattern: this one has none.
  // eslint-disable-next-line no-empty-pattern
  studio: async ({}, use) => {
    const { studio, stop } = await startStudio();
    await use(studio);
    await stop();
  },
});

export { expect } from '@playwright/test';
