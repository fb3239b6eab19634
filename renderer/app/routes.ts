/**
 * Hash routes: #/datasets, #/datasets/12, #/models, #/runs, and the runs section's own views
 * #/runs/new, #/runs/7, #/runs/compare/3,7, and #/previews with an optional model to try:
 * #/previews/run/7, #/previews/model/3, and #/generate (diffusion samples and edits). Pure parsing, unit tested.
 */

/** Which view of the runs section; absent: the runs table. */
export type RunsView = { kind: 'new' } | { kind: 'run'; id: number } | { kind: 'compare'; ids: number[] };

export type Route =
  | { name: 'datasets' }
  | { name: 'dataset'; id: number }
  | { name: 'models' }
  | { name: 'runs'; view?: RunsView }
  | { name: 'previews'; source?: PreviewSource }
  | { name: 'generate' }
  | { name: 'not-found'; path: string };

/** The model a preview starts with: an imported model, or a run's trained model. */
export type PreviewSource = { kind: 'model' | 'run'; id: number };

export type Section = 'datasets' | 'models' | 'runs' | 'previews' | 'generate';

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+|\/+$/g, '');
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return { name: 'datasets' };
  const [head, arg, ...rest] = parts;
  if (rest.length === 0) {
    if (head === 'datasets' && arg === undefined) return { name: 'datasets' };
    if (head === 'datasets' && arg !== undefined && /^[1-9]\d*$/.test(arg)) return { name: 'dataset', id: Number(arg) };
    if (head === 'models' && arg === undefined) return { name: 'models' };
    if (head === 'runs' && arg === undefined) return { name: 'runs' };
    if (head === 'previews' && arg === undefined) return { name: 'previews' };
    if (head === 'generate' && arg === undefined) return { name: 'generate' };
    if (head === 'runs' && arg === 'new') return { name: 'runs', view: { kind: 'new' } };
    if (head === 'runs' && arg !== undefined && /^[1-9]\d*$/.test(arg)) return { name: 'runs', view: { kind: 'run', id: Number(arg) } };
  }
  if (head === 'previews' && (arg === 'run' || arg === 'model') && rest.length === 1 && /^[1-9]\d*$/.test(rest[0]!)) {
    return { name: 'previews', source: { kind: arg, id: Number(rest[0]) } };
  }
  if (head === 'runs' && arg === 'compare' && rest.length === 1 && /^[1-9]\d*(,[1-9]\d*)+$/.test(rest[0]!)) {
    return { name: 'runs', view: { kind: 'compare', ids: rest[0]!.split(',').map(Number) } };
  }
  return { name: 'not-found', path: `/${path}` };
}

export function routeHash(route: Route): string {
  switch (route.name) {
    case 'dataset':
      return `#/datasets/${route.id}`;
    case 'not-found':
      return `#${route.path}`;
    case 'runs':
      if (route.view?.kind === 'new') return '#/runs/new';
      if (route.view?.kind === 'run') return `#/runs/${route.view.id}`;
      if (route.view?.kind === 'compare') return `#/runs/compare/${route.view.ids.join(',')}`;
      return '#/runs';
    case 'previews':
      return route.source ? `#/previews/${route.source.kind}/${route.source.id}` : '#/previews';
    default:
      return `#/${route.name}`;
  }
}

export function sectionOf(route: Route): Section | null {
  if (route.name === 'dataset') return 'datasets';
  if (route.name === 'not-found') return null;
  return route.name;
}
