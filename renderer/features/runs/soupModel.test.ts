import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../../preload/api';
import { soupBlocker } from './soupModel';

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
