import type { RunSummary } from '../../../preload/api';

/** Why the selection cannot make a soup, or null when it can (the service checks the rest). */
export function soupBlocker(runs: readonly Pick<RunSummary, 'name' | 'status' | 'modelId' | 'method'>[]): string | null {
  if (runs.length < 2) return 'Select two or more finished runs to average them into a model soup';
  const unfinished = runs.find((r) => r.status !== 'done');
  if (unfinished) return `${unfinished.name} has not finished: only finished runs go into a soup`;
  if (new Set(runs.map((r) => r.modelId)).size > 1) return 'The selected runs start from different base models';
  if (new Set(runs.map((r) => r.method)).size > 1) return 'The selected runs use different methods';
  return null;
}
