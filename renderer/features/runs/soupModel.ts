import type { RunSummary, SoupProgress } from '../../../preload/api';

/** Why the selection cannot make a soup, or null when it can (the service checks the rest). */
export function soupBlocker(runs: readonly Pick<RunSummary, 'name' | 'status' | 'modelId' | 'method'>[]): string | null {
  if (runs.length < 2) return 'Select two or more finished runs to average them into a model soup';
  const unfinished = runs.find((r) => r.status !== 'done');
  if (unfinished) return `${unfinished.name} has not finished: only finished runs go into a soup`;
  if (new Set(runs.map((r) => r.modelId)).size > 1) return 'The selected runs start from different base models';
  if (new Set(runs.map((r) => r.method)).size > 1) return 'The selected runs use different methods';
  return null;
}

/** What a soup being made is doing now, in words (null: no progress heard yet). */
export function soupStageText(progress: Omit<SoupProgress, 'jobId'> | null): string {
  if (!progress) return 'Starting…';
  const { stage, index, count, runName } = progress;
  const images = `${progress.imagesDone} of ${progress.imagesTotal} images`;
  switch (stage) {
    case 'loading':
      return `Loading run ${index} of ${count} (${runName})…`;
    case 'ingredient':
      return `Scoring run ${index} of ${count} alone (${runName}): ${images}`;
    case 'uniform':
      return `Scoring the uniform soup: ${images}`;
    case 'greedy':
      return `Greedy step ${index} of ${count}, trying ${runName}: ${images}`;
  }
}
