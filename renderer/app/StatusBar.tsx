import { useEffect, useState } from 'react';
import type { AppInfo } from '../../preload/api';
import { useStudio } from './StudioProvider';
import { errorMessage } from '../lib/errors';

/** Bottom bar: which shell serves this window, where the data lives, which tensor backend runs. */
export function StatusBar() {
  const client = useStudio();
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const load = () =>
      client.api['app.info']({}).then(
        (value) => {
          if (!alive) return;
          setInfo(value);
          setError(null);
        },
        (e: unknown) => alive && setError(errorMessage(e)),
      );
    void load();
    // The engine starts lazily (first training or preview); look again now and then.
    const timer = window.setInterval(load, 15_000);
    return () => {
      alive = false;
      window.clearInterval(timer);
    };
  }, [client]);

  const shell = info?.shell ?? client.shell;
  return (
    <footer className="statusbar" aria-label="Studio status">
      <span className="status-item" data-testid="status-shell" title={shell === 'remote' ? 'Served over HTTP on this machine' : 'Desktop window'}>
        <span className={`status-dot ${error ? 'status-dot-bad' : 'status-dot-ok'}`} aria-hidden="true" />
        {shell === 'remote' ? 'remote shell' : 'electron'}
      </span>
      {error ? (
        <span className="status-item status-error" role="alert">
          {error}
        </span>
      ) : null}
      {info ? (
        <>
          <span className="status-item status-path" data-testid="status-data-dir" title={info.dataDir}>
            data: {info.dataDir}
          </span>
          <span className="status-item" data-testid="status-backend" title={info.backend?.reason ?? 'The tensor engine starts with the first training or preview.'}>
            {info.backend ? `backend: ${info.backend.name}` : 'engine not started'}
          </span>
          <span className="status-item status-version">v{info.version}</span>
        </>
      ) : !error ? (
        <span className="status-item">connecting…</span>
      ) : null}
    </footer>
  );
}
