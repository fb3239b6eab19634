import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base } from '@playwright/test';

export interface RunningStudio {
  url: string;
  origin: string;
  token: string;
  home: string;
}

/** Starts the built remote shell on a fresh data folder, as `npm start` would, and stops it after. */
export async function startStudio(
  home = mkdtempSync(join(tmpdir(), 'studio-e2e-')),
): Promise<{ studio: RunningStudio; stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['out/main/remote.js'], {
    env: { ...process.env, PEFT_STUDIO_HOME: home, PEFT_STUDIO_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the studio printed no URL in 30 s:\n${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`the studio exited (${code}) before printing its URL:\n${output}`)));
  });
  const parsed = new URL(url);
  return {
    studio: { url, origin: parsed.origin, token: parsed.searchParams.get('token')!, home },
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
