import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { RunLogLine } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';
import { errorMessage } from '../../lib/errors';
import { mergeLogLines } from './runsModel';

/** Lines the panel keeps; the whole log stays in the run folder (run.log). */
const TAIL_LINES = 300;

const clock = (iso: string) => iso.slice(11, 19);

/** The run's log tail: what its worker said (events, warnings, errors, stderr), live. */
export function RunLogPanel({ runId }: { runId: number }) {
  const client = useStudio();
  const [lines, setLines] = useState<RunLogLine[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const box = useRef<HTMLOListElement>(null);
  const pinned = useRef(true);

  useEffect(() => {
    let alive = true;
    let fetched = false;
    const early: RunLogLine[] = [];
    const off = client.on('run.log', ({ id, lines: incoming }) => {
      if (id !== runId) return;
      if (!fetched) early.push(...incoming);
      else setLines((current) => mergeLogLines(current ?? [], incoming, TAIL_LINES));
    });
    client.api['runs.log']({ id: runId, lines: TAIL_LINES }).then(
      (tail) => {
        if (!alive) return;
        fetched = true;
        setLines(mergeLogLines(tail, early, TAIL_LINES));
      },
      (e: unknown) => alive && setError(errorMessage(e)),
    );
    return () => {
      alive = false;
      off();
    };
  }, [client, runId]);

  // Follows new lines while the reader is at the bottom; stays put once they scroll up.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <section className="run-log-panel" aria-labelledby="run-log-title">
      <h2 id="run-log-title">Log</h2>
      {error ? (
        <p className="callout callout-error">{error}</p>
      ) : lines === null ? (
        <p className="muted">Loading the log…</p>
      ) : (
        <ol
          ref={box}
          className="run-log"
          data-testid="run-log"
          aria-label="Run log"
          tabIndex={0}
          onScroll={(e) => {
            const el = e.currentTarget;
            pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
          }}
        >
          {lines.length === 0 ? <li className="muted">Nothing logged yet.</li> : null}
          {lines.map((line, i) => (
            <li key={`${line.time}-${i}`} className={`run-log-${line.level}`} data-level={line.level}>
              <time dateTime={line.time}>{clock(line.time)}</time> {line.text}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
