import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../../preload/api';
import { soupBlocker, soupStageText } from './soupModel';

const run = (over: Partial<Pick<RunSummary, 'name' | 'status' | 'modelId' | 'method'>>) => ({ name: 'a', status: 'done' as const, modelId: 1, method: 'lora', ...over });

describe('soup selection', () => {
  it('needs two or more finished runs of one base model and method', () => {
    expect(soupBlocker([run({})])).toMatch(/two or more/);
    expect(soupBlocker([run({}), run({ name: 'b' })])).toBeNull();
    expect(soupBlocker([run({}), run({ name: 'b', status: 'stopped' })])).toBe('b has not finished: only finished runs go into a soup');
    expect(soupBlocker([run({}), run({ modelId: 2 })])).toMatch(/different base models/);
    expect(soupBlocker([run({}), run({ method: 'ssf' })])).toMatch(/different methods/);
  });
});

describe('soup progress text', () => {
  it('names the stage, the step of all, the run and the images scored', () => {
    const at = { imagesDone: 32, imagesTotal: 90, done: 122, total: 360 };
    expect(soupStageText(null)).toBe('Starting…');
    expect(soupStageText({ stage: 'loading', index: 2, count: 3, runName: 'lr 3e-3', imagesDone: 0, imagesTotal: 0, done: 0, total: 0 })).toBe('Loading run 2 of 3 (lr 3e-3)…');
    expect(soupStageText({ stage: 'ingredient', index: 1, count: 3, runName: 'lr 1e-3', ...at })).toBe('Scoring run 1 of 3 alone (lr 1e-3): 32 of 90 images');
    expect(soupStageText({ stage: 'uniform', index: 1, count: 1, ...at })).toBe('Scoring the uniform soup: 32 of 90 images');
    expect(soupStageText({ stage: 'greedy', index: 2, count: 2, runName: 'lr 1e-2', ...at })).toBe('Greedy step 2 of 2, trying lr 1e-2: 32 of 90 images');
  });
});
