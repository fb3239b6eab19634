import { describe, expect, it } from 'vitest';
import { parseHash, routeHash, sectionOf } from './routes';

describe('routes', () => {
  it('parses the known routes', () => {
    expect(parseHash('')).toEqual({ name: 'datasets' });
    expect(parseHash('#/')).toEqual({ name: 'datasets' });
    expect(parseHash('#/datasets')).toEqual({ name: 'datasets' });
    expect(parseHash('#/datasets/12')).toEqual({ name: 'dataset', id: 12 });
    expect(parseHash('#/models/')).toEqual({ name: 'models' });
    expect(parseHash('#/runs')).toEqual({ name: 'runs' });
  });

  it('rejects what it does not know', () => {
    expect(parseHash('#/datasets/0').name).toBe('not-found');
    expect(parseHash('#/datasets/abc').name).toBe('not-found');
    expect(parseHash('#/nope').name).toBe('not-found');
  });

  it('round-trips and names the section', () => {
    expect(routeHash({ name: 'dataset', id: 3 })).toBe('#/datasets/3');
    expect(parseHash(routeHash({ name: 'models' }))).toEqual({ name: 'models' });
    expect(sectionOf({ name: 'dataset', id: 3 })).toBe('datasets');
  });

  it('parses the runs views', () => {
    expect(parseHash('#/runs/new')).toEqual({ name: 'runs', view: { kind: 'new' } });
    expect(parseHash('#/runs/7')).toEqual({ name: 'runs', view: { kind: 'run', id: 7 } });
    expect(parseHash('#/runs/compare/3,7')).toEqual({ name: 'runs', view: { kind: 'compare', ids: [3, 7] } });
    expect(parseHash('#/runs/compare/3').name).toBe('not-found');
    expect(parseHash('#/runs/0').name).toBe('not-found');
    expect(routeHash({ name: 'runs', view: { kind: 'compare', ids: [2, 5, 9] } })).toBe('#/runs/compare/2,5,9');
    expect(routeHash({ name: 'runs', view: { kind: 'run', id: 4 } })).toBe('#/runs/4');
    expect(sectionOf({ name: 'runs', view: { kind: 'new' } })).toBe('runs');
  });

  it('parses the previews page and the model it starts with', () => {
    expect(parseHash('#/previews')).toEqual({ name: 'previews' });
    expect(parseHash('#/previews/run/7')).toEqual({ name: 'previews', source: { kind: 'run', id: 7 } });
    expect(parseHash('#/previews/model/3')).toEqual({ name: 'previews', source: { kind: 'model', id: 3 } });
    expect(parseHash('#/previews/run/0').name).toBe('not-found');
    expect(parseHash('#/previews/dataset/2').name).toBe('not-found');
    expect(routeHash({ name: 'previews', source: { kind: 'run', id: 4 } })).toBe('#/previews/run/4');
    expect(sectionOf({ name: 'previews' })).toBe('previews');
  });

  it('parses the generate page', () => {
    expect(parseHash('#/generate')).toEqual({ name: 'generate' });
    expect(parseHash('#/generate/3').name).toBe('not-found');
    expect(routeHash({ name: 'generate' })).toBe('#/generate');
    expect(sectionOf({ name: 'generate' })).toBe('generate');
  });
});
