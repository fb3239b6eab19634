/**
 * Lets a page name itself in the top bar ("Datasets › Cats vs dogs") without the frame knowing
 * every page.
 */
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';

export interface Crumb {
  label: string;
  href?: string;
}

const CrumbsContext = createContext<((crumbs: Crumb[]) => void) | null>(null);
const CrumbsValue = createContext<Crumb[]>([]);

export function CrumbsProvider({ children }: { children: ReactNode }) {
  const [crumbs, setCrumbs] = useState<Crumb[]>([]);
  return (
    <CrumbsContext.Provider value={setCrumbs}>
      <CrumbsValue.Provider value={crumbs}>{children}</CrumbsValue.Provider>
    </CrumbsContext.Provider>
  );
}

/** Called by each page with its breadcrumb trail; also sets the window title. */
export function usePageCrumbs(crumbs: Crumb[]): void {
  const set = useContext(CrumbsContext);
  const key = JSON.stringify(crumbs);
  useEffect(() => {
    const parsed = JSON.parse(key) as Crumb[];
    set?.(parsed);
    document.title = [...parsed.map((c) => c.label).reverse(), 'PEFT Studio'].join(' · ');
  }, [key, set]);
}

export function useCrumbs(): Crumb[] {
  return useContext(CrumbsValue);
}
