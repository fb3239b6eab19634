import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ImportReport } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { ProgressBar } from '../../components/ProgressBar';
import { messageFor } from '../../lib/errors';
import { formatDateTime, formatInt } from '../../lib/format';
import { pickedFromInput, type PickedFile } from './dropFiles';
import { outcomeOf, outcomeTitle, type ImportOutcome } from './importOutcome';
import { uploadLabel, type useImport } from './useImport';

type Importer = ReturnType<typeof useImport>;

export function ImportPanel({ importer }: { importer: Importer }) {
  const client = useStudio();
  const toast = useToast();
  const [path, setPath] = useState('');
  const [error, setError] = useState<unknown>(null);
  const { active } = importer;
  const running = active !== null;

  const cancelButton = useRef<HTMLButtonElement>(null);
  // The start button disables itself while an import runs: hand keyboard focus to Cancel.
  useEffect(() => {
    const focused = document.activeElement;
    const lost = !focused || focused === document.body || focused.id === 'import-path' || focused.getAttribute('data-testid') === 'import-start';
    if (running && lost) cancelButton.current?.focus();
  }, [running]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const startError = await importer.startFolder(path.trim());
    if (startError) setError(startError);
  };

  const browse = async () => {
    try {
      const picked = await client.api['app.pickFolder']({});
      if (picked) {
        setPath(picked);
        setError(null);
      }
    } catch (e) {
      toast.error(e, 'Could not open the folder picker');
    }
  };

  const upload = (files: PickedFile[]) => {
    if (files.length > 0) void importer.startUpload(files, uploadLabel(files));
  };

  const message = messageFor(error, 'path');
  return (
    <section className="panel import-panel" aria-labelledby="import-title">
      <h2 id="import-title" className="panel-title">
        Import images
      </h2>
      <form onSubmit={submit} noValidate className="import-form">
        <div className="field">
          <label htmlFor="import-path">Folder path</label>
          <div className="field-row">
            <input
              id="import-path"
              data-testid="import-path"
              className="input"
              value={path}
              onChange={(e) => setPath(e.target.value)}
              placeholder={client.shell === 'remote' ? '/path/on/the/studio/machine' : '/path/to/images'}
              spellCheck={false}
              autoComplete="off"
              aria-invalid={message ? true : undefined}
              aria-describedby={message ? 'import-path-error' : 'import-path-hint'}
              disabled={running}
            />
            {client.shell !== 'remote' ? (
              <button type="button" className="button" onClick={browse} disabled={running}>
                Browse…
              </button>
            ) : null}
          </div>
          {message ? (
            <p id="import-path-error" className="field-error" role="alert">
              {message}
            </p>
          ) : (
            <p id="import-path-hint" className="field-hint">
              A folder on the studio machine. Its sub-folders become classes; images at its top level import unlabeled.
            </p>
          )}
        </div>
        <button type="submit" className="button button-primary" data-testid="import-start" disabled={running || path.trim() === ''}>
          Import folder
        </button>
      </form>

      <div className="upload-row">
        <span className="muted">or drop files and folders on this page, or</span>
        <FilePickButton label="Upload folder…" directory disabled={running} onPick={upload} />
        <FilePickButton label="Upload files…" disabled={running} onPick={upload} />
      </div>

      {active ? (
        <div className="import-progress" aria-live="polite">
          <div className="import-progress-head">
            <span className="import-progress-label" title={active.label}>
              Importing {active.label}
            </span>
            <span className="import-progress-count">
              {active.total > 0 ? `${formatInt(Math.min(active.done, active.total))} / ${formatInt(active.total)}` : ''}
            </span>
          </div>
          <ProgressBar done={active.done} total={active.total} label="Import progress" testId="import-progress" />
          <div className="import-progress-foot">
            <span className="muted import-progress-message">{active.message}</span>
            <button ref={cancelButton} type="button" className="button button-small" onClick={() => void importer.cancel()} disabled={active.cancelling}>
              {active.cancelling ? 'Cancelling…' : 'Cancel import'}
            </button>
          </div>
        </div>
      ) : null}

      {importer.outcome ? <ImportReportView outcome={importer.outcome} onDismiss={importer.dismiss} /> : null}

      {importer.history && importer.history.length > 0 ? (
        <ImportHistory history={importer.history} onShow={(report) => importer.showReport(outcomeOf(report.source, [report]))} />
      ) : null}
    </section>
  );
}

function FilePickButton({ label, directory, disabled, onPick }: { label: string; directory?: boolean; disabled?: boolean; onPick(files: PickedFile[]): void }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // Not in React's types: lets the picker choose a whole folder, keeping relative paths.
    if (directory) input.current?.setAttribute('webkitdirectory', '');
  }, [directory]);
  return (
    <>
      <button type="button" className="button button-small" disabled={disabled} onClick={() => input.current?.click()}>
        {label}
      </button>
      <input
        ref={input}
        type="file"
        multiple
        accept={directory ? undefined : 'image/*'}
        className="visually-hidden"
        tabIndex={-1}
        aria-hidden="true"
        onChange={(e) => {
          const files = e.currentTarget.files;
          if (files) onPick(pickedFromInput(files));
          e.currentTarget.value = '';
        }}
      />
    </>
  );
}

const ISSUE_LIMIT = 500;

export function ImportReportView({ outcome, onDismiss }: { outcome: ImportOutcome; onDismiss(): void }) {
  const [showAll, setShowAll] = useState(false);
  const issues = showAll ? outcome.issues : outcome.issues.slice(0, ISSUE_LIMIT);

  return (
    <div className={`import-report import-report-${outcome.status}`} data-testid="import-report" data-status={outcome.status} role="region" aria-labelledby="import-report-title" aria-live="polite">
      <div className="import-report-head">
        <h3 id="import-report-title">
          {outcomeTitle(outcome)}
        </h3>
        <button type="button" className="icon-button" aria-label="Close import report" onClick={onDismiss}>
          ×
        </button>
      </div>
      <p className="muted import-report-source" title={outcome.label}>
        {outcome.label}
        {outcome.finishedAt ? ` · ${formatDateTime(outcome.finishedAt)}` : ''}
      </p>
      {outcome.error ? (
        <p className="field-error" role="alert">
          {outcome.error}
        </p>
      ) : null}
      <dl className="report-stats">
        <div className="stat-added">
          <dt>added</dt>
          <dd data-testid="import-added">{formatInt(outcome.added)}</dd>
        </div>
        <div className="stat-duplicates">
          <dt>duplicates</dt>
          <dd data-testid="import-duplicates">{formatInt(outcome.duplicates)}</dd>
        </div>
        <div className="stat-skipped">
          <dt>skipped</dt>
          <dd data-testid="import-skipped">{formatInt(outcome.skipped)}</dd>
        </div>
      </dl>
      {outcome.issues.length > 0 ? (
        <div className="issue-table-wrap">
          <table className="table table-compact" aria-label="Skipped files">
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {issues.map((issue, index) => (
                <tr key={`${index}-${issue.path}`} data-testid="import-issue">
                  <td className="issue-path" title={issue.path}>
                    {issue.path}
                  </td>
                  <td>{issue.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {outcome.issues.length > issues.length ? (
            <button type="button" className="button button-small button-ghost" onClick={() => setShowAll(true)}>
              Show all {formatInt(outcome.issues.length)} skipped files
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

function ImportHistory({ history, onShow }: { history: ImportReport[]; onShow(report: ImportReport): void }) {
  return (
    <details className="import-history">
      <summary>Earlier imports ({history.length})</summary>
      <ul>
        {history.slice(0, 20).map((report) => (
          <li key={report.id}>
            <button type="button" className="history-item" onClick={() => onShow(report)}>
              <span className={`history-status history-${report.status}`}>{report.status}</span>
              <span className="history-source" title={report.source}>
                {report.source}
              </span>
              <span className="history-counts">
                +{formatInt(report.added)} · {formatInt(report.duplicates)} dup · {formatInt(report.skipped)} skipped
              </span>
            </button>
          </li>
        ))}
      </ul>
    </details>
  );
}
