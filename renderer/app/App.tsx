import { useEffect, useRef, useState } from 'react';
import { useRoute, navigate } from './router';
import { routeHash, sectionOf, type Section } from './routes';
import { NAV_SHORTCUTS, isTypingTarget, reduceShortcut } from './shortcuts';
import { CrumbsProvider, useCrumbs } from './chrome';
import { StatusBar } from './StatusBar';
import { DatasetsPage } from '../features/datasets/DatasetsPage';
import { DatasetPage } from '../features/datasets/DatasetPage';
import { ModelsPage } from '../features/models/ModelsPage';
import { RunsPage } from '../features/runs/RunsPage';
import { PreviewsPage } from '../features/previews/PreviewsPage';
import { GeneratePage } from '../features/generate/GeneratePage';
import { EmptyState } from '../components/EmptyState';
import { ShortcutHelp } from './ShortcutHelp';

const ICONS: Record<Section, string> = { datasets: '▦', models: '◈', runs: '▶', previews: '◎', generate: '✦' };

export function App() {
  const route = useRoute();
  const [help, setHelp] = useState(false);
  const pending = useRef<{ key: string; at: number } | null>(null);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || isTypingTarget(event.target)) return;
      if (document.querySelector('dialog[open]')) return;
      const fresh = pending.current && Date.now() - pending.current.at < 1200 ? pending.current.key : null;
      const result = reduceShortcut(fresh, event);
      pending.current = result.pending ? { key: result.pending, at: Date.now() } : null;
      if (result.section) {
        event.preventDefault();
        navigate({ name: result.section });
        // Put keyboard focus where the new page starts.
        window.setTimeout(() => document.getElementById('main')?.focus(), 0);
      } else if (result.help) {
        event.preventDefault();
        setHelp(true);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const section = sectionOf(route);
  return (
    <CrumbsProvider>
      <div className="app">
        <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
          Skip to content
        </a>
        <nav className="sidebar" aria-label="Sections">
          <div className="brand">
            <span className="brand-mark" aria-hidden="true">◧</span>
            <span className="brand-name">PEFT Studio</span>
          </div>
          <ul className="nav-list">
            {NAV_SHORTCUTS.map((s) => (
              <li key={s.section}>
                <a
                  className={section === s.section ? 'nav-link active' : 'nav-link'}
                  href={routeHash({ name: s.section })}
                  aria-current={section === s.section ? 'page' : undefined}
                  aria-keyshortcuts={`G ${s.sequence[1].toUpperCase()} Alt+${s.altDigit}`}
                  aria-label={s.label}
                  title={`${s.label} (g ${s.sequence[1]} or Alt+${s.altDigit})`}
                >
                  <span className="nav-icon" aria-hidden="true">{ICONS[s.section]}</span>
                  <span className="nav-label">{s.label}</span>
                  <span className="nav-keys" aria-hidden="true">
                    <kbd>g</kbd>
                    <kbd>{s.sequence[1]}</kbd>
                  </span>
                </a>
              </li>
            ))}
          </ul>
          <button type="button" className="sidebar-help" onClick={() => setHelp(true)}>
            Keyboard shortcuts <kbd>?</kbd>
          </button>
        </nav>
        <TopBar />
        <main id="main" className="content" tabIndex={-1}>
          {route.name === 'datasets' ? <DatasetsPage /> : null}
          {route.name === 'dataset' ? <DatasetPage key={route.id} datasetId={route.id} /> : null}
          {route.name === 'models' ? <ModelsPage /> : null}
          {route.name === 'runs' ? <RunsPage /> : null}
          {route.name === 'previews' ? <PreviewsPage source={route.source} /> : null}
          {route.name === 'generate' ? <GeneratePage /> : null}
          {route.name === 'not-found' ? (
            <EmptyState title="Nothing here">
              <p>
                There is no page at <code>{route.path}</code>. <a href="#/datasets">Go to datasets</a>.
              </p>
            </EmptyState>
          ) : null}
        </main>
        <StatusBar />
      </div>
      {help ? <ShortcutHelp onClose={() => setHelp(false)} /> : null}
    </CrumbsProvider>
  );
}

function TopBar() {
  const crumbs = useCrumbs();
  return (
    <header className="topbar">
      <nav aria-label="Breadcrumb">
        <ol className="crumbs">
          {crumbs.map((crumb, index) => (
            <li key={`${index}-${crumb.label}`}>
              {crumb.href && index < crumbs.length - 1 ? <a href={crumb.href}>{crumb.label}</a> : <span aria-current={index === crumbs.length - 1 ? 'page' : undefined}>{crumb.label}</span>}
            </li>
          ))}
        </ol>
      </nav>
    </header>
  );
}
