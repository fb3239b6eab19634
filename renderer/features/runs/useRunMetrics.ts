import { useEffect, useMemo, useState } from 'react';
import { CHART_POINTS } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';

/** One metric of one run, grown in place as points arrive (charts read the arrays directly). */
export interface Series {
  steps: number[];
  values: (number | null)[];
  times: number[];
}

export const emptySeries = (): Series => ({ steps: [], values: [], times: [] });

/** How often a live run's charts fetch new points at most. */
const THROTTLE_MS = 500;

/**
 * The named metrics of a run. Fetches everything once, then, on each run.progress of this run
 * (throttled), only the points after the last step it holds. `version` changes whenever any
 * series grew, for charts to redraw.
 */
export function useRunMetrics(runId: number, names: readonly string[]): { series: Record<string, Series>; version: number } {
  const client = useStudio();
  const key = names.join(',');
  // A fresh set of (mutable) series per run and metric list; effects grow them in place.
  const series = useMemo<Record<string, Series>>(
    () => Object.fromEntries(key.split(',').filter(Boolean).map((n) => [n, emptySeries()])),
    // runId is a dependency on purpose: another run starts from empty series.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [runId, key],
  );
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let alive = true;
    let busy = false;
    let again = false;
    let timer: number | null = null;
    let lastFetch = 0;

    const fetchNew = async () => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      lastFetch = Date.now();
      try {
        let grew = false;
        await Promise.all(
          Object.entries(series).map(async ([name, s]) => {
            const afterStep = s.steps.length > 0 ? s.steps[s.steps.length - 1]! : -1;
            // History within the chart's budget; points that arrive later come whole.
            const points = await client.api['runs.metrics']({ id: runId, name, afterStep, ...(afterStep < 0 ? { maxPoints: CHART_POINTS } : {}) });
            if (!alive) return;
            for (const p of points) {
              // A resumed run replays steps after its checkpoint: keep what is already drawn.
              if (s.steps.length > 0 && p.step <= s.steps[s.steps.length - 1]!) continue;
              s.steps.push(p.step);
              s.values.push(p.value);
              s.times.push(p.time);
              grew = true;
            }
          }),
        );
        if (alive && grew) setVersion((v) => v + 1);
      } catch {
        // A transient failure: the next progress event fetches again.
      } finally {
        busy = false;
        if (again && alive) {
          again = false;
          schedule();
        }
      }
    };

    const schedule = () => {
      if (timer !== null) return;
      const wait = Math.max(0, THROTTLE_MS - (Date.now() - lastFetch));
      timer = window.setTimeout(() => {
        timer = null;
        void fetchNew();
      }, wait);
    };

    void fetchNew();
    const off = client.on('run.progress', (run) => {
      if (run.id === runId) schedule();
    });
    return () => {
      alive = false;
      off();
      if (timer !== null) window.clearTimeout(timer);
    };
  }, [client, runId, series]);

  return { series, version };
}
