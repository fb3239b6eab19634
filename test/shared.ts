// Locates third-party test data kept outside the repository (../shared, never copied in).
// Missing data skips the tests that need it with a clear message, except under CI, where it fails.
import { existsSync } from 'node:fs';
import path from 'node:path';

// __dirname, not import.meta: Playwright loads this file as CommonJS, vitest as either.
const repoRoot = path.resolve(__dirname, '..');

/** Absolute path of ../shared/<relative>, or undefined (after a warning) when it is absent. */
export function sharedPath(relative: string): string | undefined {
  const full = path.resolve(repoRoot, '..', 'shared', relative);
  if (existsSync(full)) return full;
  if (process.env.CI) throw new Error(`${full} is missing: CI must provide the shared test data`);
  console.warn(`SKIPPED: ${full} not found; tests that need it are skipped (they fail when CI is set)`);
  return undefined;
}
