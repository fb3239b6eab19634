import { useSyncExternalStore } from 'react';
import { parseHash, routeHash, type Route } from './routes';

const subscribe = (listener: () => void) => {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
};
const snapshot = () => window.location.hash;

/** The current route, re-rendering on hash changes (back/forward included). */
export function useRoute(): Route {
  return parseHash(useSyncExternalStore(subscribe, snapshot));
}

export function navigate(route: Route): void {
  const hash = routeHash(route);
  if (window.location.hash !== hash) window.location.hash = hash;
}
