/** Hash routes: #/datasets, #/datasets/12, #/models, #/runs. Pure parsing, unit tested. */

export type Route =
  | { name: 'datasets' }
  | { name: 'dataset'; id: number }
  | { name: 'models' }
  | { name: 'runs' }
  | { name: 'not-found'; path: string };

export type Section = 'datasets' | 'models' | 'runs';

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
  }
  return { name: 'not-found', path: `/${path}` };
}

export function routeHash(route: Route): string {
  switch (route.name) {
    case 'dataset':
      return `#/datasets/${route.id}`;
    case 'not-found':
      return `#${route.path}`;
    default:
      return `#/${route.name}`;
  }
}

export function sectionOf(route: Route): Section | null {
  if (route.name === 'dataset') return 'datasets';
  if (route.name === 'not-found') return null;
  return route.name;
}
