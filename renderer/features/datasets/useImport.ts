/**
 * The import flow of one dataset page: start a folder import or an upload (in chunks), follow
 * its job through `job.progress` events (polling `imports.get` as a fallback when events are
 * late or lost), cancel it, and end with one report. Also attaches to an import already running
 * when the page opens (started from another window or the CLI).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ImportIssue, ImportReport, JobProgress } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { errorMessage } from '../../lib/errors';
import { classFolders, isClutter, MAX_FILE_BYTES, planChunks } from '../../lib/upload';
import { formatInt } from '../../lib/format';
import { readBase64, type PickedFile } from './dropFiles';
import { isTerminal, outcomeOf, type ImportOutcome } from './importOutcome';

export interface ActiveImport {
  kind: 'folder' | 'upload';
  label: string;
  jobId: string | null;
  done: number;
  total: number;
  message: string;
  cancelling: boolean;
}

interface Flow {
  kind: 'folder' | 'upload';
  jobId: string | null;
  /** Upload: files already handled by finished chunks. */
  base: number;
  /** Upload: all files of the drop. */
  total: number;
  cancelled: boolean;
}

const POLL_MS = 2000;
const always = () => true;

export { uploadLabel } from '../../lib/upload';

export function useImport(datasetId: number, onChanged: () => void) {
  const client = useStudio();
  const toast = useToast();
  const [active, setActive] = useState<ActiveImport | null>(null);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);
  const [history, setHistory] = useState<ImportReport[] | null>(null);
  const flow = useRef<Flow | null>(null);
  const progressByJob = useRef(new Map<string, { progress: JobProgress; at: number }>());
  const wakers = useRef(new Map<string, () => void>());
  const mounted = useRef(false);
  const changed = useRef(onChanged);
  useEffect(() => {
    changed.current = onChanged;
  });

  // Progress arrives per file; paint it at most once a frame.
  const pendingProgress = useRef<{ done: number; total: number; message?: string } | null>(null);
  const frame = useRef<number | null>(null);
  const showProgress = useCallback((done: number, total: number, message?: string) => {
    pendingProgress.current = { done, total, message: message ?? pendingProgress.current?.message };
    if (frame.current !== null) return;
    frame.current = window.requestAnimationFrame(() => {
      frame.current = null;
      const next = pendingProgress.current;
      pendingProgress.current = null;
      if (next) paintProgress(next.done, next.total, next.message);
    });
  }, []);
  useEffect(
    () => () => {
      if (frame.current !== null) window.cancelAnimationFrame(frame.current);
    },
    [],
  );

  const paintProgress = (done: number, total: number, message?: string) => {
    const f = flow.current;
    if (!f) return;
    setActive((a) =>
      a && {
        ...a,
        done: f.kind === 'upload' ? f.base + done : done,
        total: f.kind === 'upload' ? f.total : total,
        message: a.cancelling ? a.message : (message ?? a.message),
      },
    );
  };

  useEffect(() => {
    return client.on('job.progress', (progress) => {
      if (progress.datasetId !== datasetId) return;
      progressByJob.current.set(progress.jobId, { progress, at: Date.now() });
      if (flow.current?.jobId === progress.jobId) showProgress(progress.done, progress.total, progress.message);
      if (isTerminal(progress.status)) wakers.current.get(progress.jobId)?.();
    });
  }, [client, datasetId, showProgress]);

  const loadHistory = useCallback(() => {
    return client.api['imports.list']({ datasetId }).then(
      (list) => {
        const sorted = [...list].sort((a, b) => b.id - a.id);
        setHistory(sorted);
        return sorted;
      },
      (e: unknown) => {
        toast.error(e, 'Could not list earlier imports');
        return [] as ImportReport[];
      },
    );
  }, [client, datasetId, toast]);

  /** Resolves with the final report of an import once its job has ended. */
  const waitFor = useCallback(
    async (importId: number, jobId: string, alive: () => boolean): Promise<ImportReport | null> => {
      for (;;) {
        const seen = progressByJob.current.get(jobId);
        if (!seen || !isTerminal(seen.progress.status)) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              window.clearTimeout(timer);
              wakers.current.delete(jobId);
              resolve();
            };
            const timer = window.setTimeout(wake, POLL_MS);
            wakers.current.set(jobId, wake);
          });
        }
        if (!alive()) return null;
        const latest = progressByJob.current.get(jobId);
        const eventsFlowing = latest && !isTerminal(latest.progress.status) && Date.now() - latest.at < POLL_MS * 1.5;
        if (eventsFlowing) continue;
        const report = await client.api['imports.get']({ id: importId });
        if (!alive()) return null;
        if (isTerminal(report.status)) return report;
        if (flow.current?.jobId === jobId) showProgress(report.processed, report.total);
      }
    },
    [client, showProgress],
  );

  const finish = useCallback(
    (result: ImportOutcome) => {
      flow.current = null;
      setActive(null);
      setOutcome(result);
      changed.current();
      void loadHistory();
    },
    [loadHistory],
  );

  // On open: list earlier imports, and follow one still running.
  useEffect(() => {
    mounted.current = true;
    let alive = true;
    void loadHistory().then((list) => {
      const running = list.find((r) => r.status === 'running');
      if (!alive || !running || flow.current) return;
      flow.current = { kind: 'folder', jobId: running.jobId, base: 0, total: running.total, cancelled: false };
      setActive({
        kind: 'folder',
        label: running.source || 'an earlier import',
        jobId: running.jobId,
        done: running.processed,
        total: running.total,
        message: 'Import in progress',
        cancelling: false,
      });
      waitFor(running.id, running.jobId, () => alive).then(
        (report) => report && finish(outcomeOf(report.source || 'an earlier import', [report])),
        (e: unknown) => alive && finish(outcomeOf(running.source, [], [], errorMessage(e))),
      );
    });
    return () => {
      alive = false;
      mounted.current = false;
    };
  }, [loadHistory, waitFor, finish]);

  const isAlive = useCallback(() => mounted.current, []);

  /** Start importing a folder on the studio machine. Resolves with the start error, if any, for the form. */
  const startFolder = useCallback(
    async (path: string): Promise<unknown> => {
      if (flow.current) return null;
      const label = `folder ${path}`;
      const f: Flow = { kind: 'folder', jobId: null, base: 0, total: 0, cancelled: false };
      flow.current = f;
      setOutcome(null);
      setActive({ kind: 'folder', label, jobId: null, done: 0, total: 0, message: 'Starting…', cancelling: false });
      let started;
      try {
        started = await client.api['imports.start']({ datasetId, source: { kind: 'folder', path } });
      } catch (e) {
        flow.current = null;
        setActive(null);
        return e;
      }
      f.jobId = started.jobId;
      setActive((a) => a && { ...a, jobId: started.jobId, message: 'Scanning the folder…' });
      const early = progressByJob.current.get(started.jobId);
      if (early) showProgress(early.progress.done, early.progress.total, early.progress.message);
      if (f.cancelled) void client.api['jobs.cancel']({ jobId: started.jobId }).catch(() => {});
      try {
        const report = await waitFor(started.importId, started.jobId, isAlive);
        if (report) finish(outcomeOf(label, [report]));
      } catch (e) {
        if (isAlive()) finish(outcomeOf(label, [], [], errorMessage(e)));
      }
      return null;
    },
    [client, datasetId, finish, isAlive, showProgress, waitFor],
  );

  /** Upload dropped or picked files, ≤ 200 per call, following each call's job to its end. */
  const startUpload = useCallback(
    async (picked: PickedFile[], label: string): Promise<void> => {
      if (flow.current) {
        toast.info('An import is already running here; drop again when it has finished.');
        return;
      }
      const localIssues: ImportIssue[] = [];
      const candidates = picked.filter((p) => !isClutter(p.file.name));
      const files = candidates.filter((p) => {
        if (p.file.size <= MAX_FILE_BYTES) return true;
        localIssues.push({ path: p.relativePath, reason: 'larger than 50 MB, the limit for dropped files: import its folder by path instead' });
        return false;
      });
      setOutcome(null);
      if (files.length === 0) {
        setOutcome(outcomeOf(label, [], localIssues, localIssues.length > 0 ? null : 'Nothing to import: the drop held no files.'));
        return;
      }
      const folders = classFolders(files.map((p) => p.relativePath));
      const chunks = planChunks(files.map((p) => p.file.size));
      const f: Flow = { kind: 'upload', jobId: null, base: 0, total: files.length, cancelled: false };
      flow.current = f;
      setActive({ kind: 'upload', label, jobId: null, done: 0, total: files.length, message: 'Reading files…', cancelling: false });

      const reports: ImportReport[] = [];
      let failure: string | null = null;
      try {
        for (const [index, chunk] of chunks.entries()) {
          if (f.cancelled) break;
          f.jobId = null;
          const range = `${f.base + 1}–${f.base + chunk.length} of ${files.length}`;
          setActive((a) => a && { ...a, jobId: null, message: `Reading files ${range}` });
          const payload: { name: string; folder: string; base64: string }[] = [];
          await Promise.all(
            chunk.map(async (i) => {
              try {
                payload.push({ name: files[i].file.name, folder: folders[i], base64: await readBase64(files[i].file) });
              } catch (e) {
                localIssues.push({ path: files[i].relativePath, reason: `could not be read in the browser: ${errorMessage(e)}` });
              }
            }),
          );
          if (f.cancelled) break;
          if (payload.length > 0) {
            setActive((a) => a && { ...a, message: `Sending files ${range}${chunks.length > 1 ? ` (part ${index + 1} of ${chunks.length})` : ''}` });
            const started = await client.api['imports.start']({ datasetId, source: { kind: 'upload', files: payload } });
            f.jobId = started.jobId;
            setActive((a) => a && { ...a, jobId: started.jobId });
            if (f.cancelled) await client.api['jobs.cancel']({ jobId: started.jobId }).catch(() => {});
            // An upload finishes even if the user leaves the page: only this page holds its files.
            const report = await waitFor(started.importId, started.jobId, always);
            if (!report) return;
            reports.push(report);
            if (report.status !== 'done') break;
          }
          f.base += chunk.length;
          showProgress(0, 0);
          // Show what arrived so far while the next part is read and sent.
          if (index < chunks.length - 1) changed.current();
        }
      } catch (e) {
        failure = errorMessage(e);
      }
      const result = outcomeOf(label, reports, localIssues, failure);
      if (f.cancelled && result.status === 'done') result.status = 'cancelled';
      if (isAlive()) finish(result);
      else if (result.status === 'failed') toast.error(result.error ?? 'failed', `Import of ${label}`);
      else toast.info(`Import of ${label} ${result.status === 'done' ? 'finished' : result.status}: ${formatInt(result.added)} added, ${formatInt(result.skipped)} skipped.`);
    },
    [client, datasetId, finish, isAlive, showProgress, toast, waitFor],
  );

  const cancel = useCallback(async () => {
    const f = flow.current;
    if (!f) return;
    f.cancelled = true;
    setActive((a) => a && { ...a, cancelling: true, message: 'Cancelling…' });
    if (f.jobId) {
      try {
        await client.api['jobs.cancel']({ jobId: f.jobId });
      } catch (e) {
        toast.error(e, 'Cancel failed');
      }
    }
  }, [client, toast]);

  return { active, outcome, history, startFolder, startUpload, cancel, dismiss: () => setOutcome(null), showReport: setOutcome };
}
