/**
 * Focus labeling: one large image at a time. A class hotkey labels it and jumps to the next
 * unlabeled image of the list the view was opened on; ←/→ move; +/−/0 zoom; Backspace unlabels;
 * Esc goes back to the grid. The list is a snapshot of the filter's ids taken on opening, so
 * labeling an image never reshuffles the positions under the person labeling.
 */
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { ClassSummary, ImageItem } from '../../../preload/api';
import { isTypingTarget } from '../../app/shortcuts';
import { useStudio, useToast } from '../../app/StudioProvider';
import { errorMessage } from '../../lib/errors';
import { formatInt } from '../../lib/format';
import { PageCache } from '../../lib/pageCache';
import { classForKey } from './hotkeys';
import { nextUnlabeled, zoomBy } from './selection';
import type { Filter, Overrides } from './types';

const PAGE_SIZE = 240;

interface Props {
  datasetId: number;
  /** The filter the view walks (snapshotted on opening). */
  filter: Filter;
  startId: number;
  classes: ClassSummary[];
  hotkeys: ReadonlyMap<number, string>;
  overrides: Overrides;
  imageCount: number;
  /** Bumped after undo/redo: the unlabeled set and the shown images are fetched again. */
  historyKey: number;
  onLabel(imageIds: number[], classId: number | null): Promise<boolean>;
  onClose(lastId: number | null): void;
}

interface Snapshot {
  ids: number[];
  /** Image id → its index among all the dataset's images (the unfiltered page order). */
  allIndex: Map<number, number>;
}

export function FocusView({ datasetId, filter, startId, classes, hotkeys, overrides, imageCount, historyKey, onLabel, onClose }: Props) {
  const client = useStudio();
  const toast = useToast();
  const rootRef = useRef<HTMLDivElement>(null);
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [unlabeled, setUnlabeled] = useState<Set<number>>(() => new Set());
  const [pos, setPos] = useState(0);
  const [zoom, setZoom] = useState(1);
  const [captions, setCaptions] = useState<Map<number, string | null>>(() => new Map());
  const [loadError, setLoadError] = useState<unknown>(null);
  const filterJson = JSON.stringify(filter);
  const first = useRef(true);

  // The list: the filter's ids once, and every id's place in the unfiltered order (fetched again
  // when images are added or removed).
  useEffect(() => {
    let live = true;
    Promise.all([
      client.api['images.ids']({ datasetId, filter: JSON.parse(filterJson) as Filter }),
      client.api['images.ids']({ datasetId, filter: {} }),
    ]).then(
      ([ids, all]) => {
        if (!live) return;
        const allIndex = new Map(all.map((id, index) => [id, index]));
        setSnapshot((previous) => ({ ids: (previous?.ids ?? ids).filter((id) => allIndex.has(id)), allIndex }));
        if (first.current) {
          first.current = false;
          setPos(Math.max(0, ids.indexOf(startId)));
        }
      },
      (e: unknown) => live && setLoadError(e),
    );
    return () => {
      live = false;
    };
    // startId only matters for the first snapshot.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, datasetId, filterJson, imageCount]);

  useEffect(() => {
    let live = true;
    client.api['images.ids']({ datasetId, filter: { classId: null } }).then(
      (ids) => live && setUnlabeled(new Set(ids)),
      (e: unknown) => live && toast.error(e, 'Could not load the unlabeled images'),
    );
    return () => {
      live = false;
    };
  }, [client, datasetId, historyKey, toast]);

  const cache = useMemo(
    () =>
      new PageCache<ImageItem>(
        async (offset, limit, previous) => {
          const page = await client.api['images.page']({ datasetId, offset, limit, afterId: previous?.id });
          return { total: page.total, items: page.items };
        },
        PAGE_SIZE,
        (e) => toast.error(e, 'Could not load images'),
      ),
    [client, datasetId, toast],
  );
  useEffect(() => () => cache.dispose(), [cache]);
  // Labels made here show through `overrides`, so a keystroke needs no refetch; undo/redo and
  // images added or removed do.
  const lastRefresh = useRef({ historyKey, imageCount });
  useEffect(() => {
    if (lastRefresh.current.historyKey === historyKey && lastRefresh.current.imageCount === imageCount) return;
    lastRefresh.current = { historyKey, imageCount };
    cache.invalidate();
  }, [cache, historyKey, imageCount]);
  const version = useSyncExternalStore(cache.subscribe, cache.getVersion);

  const ids = useMemo(() => snapshot?.ids ?? [], [snapshot]);
  const position = Math.min(pos, Math.max(0, ids.length - 1));
  const currentId = ids[position];
  const index = currentId !== undefined ? snapshot?.allIndex.get(currentId) : undefined;
  useEffect(() => {
    if (index === undefined) return;
    cache.ensureRange(0, 1);
    // This image and its neighbours, so moving on shows the next one at once.
    cache.ensureRange(Math.max(0, index - 2), index + 3);
  }, [cache, index, version]);
  const item = index !== undefined ? cache.get(index) : undefined;

  // Where a class key jumps next: its row is fetched and its image downloaded ahead, so the jump
  // shows a decoded image instead of waiting for the bytes.
  const upcomingId = useMemo(() => ids[nextUnlabeled(ids, position, (id) => unlabeled.has(id))], [ids, position, unlabeled]);
  const upcomingIndex = upcomingId !== undefined ? snapshot?.allIndex.get(upcomingId) : undefined;
  useEffect(() => {
    if (upcomingIndex !== undefined) cache.ensureRange(upcomingIndex, upcomingIndex + 1);
  }, [cache, upcomingIndex, version]);
  const upcomingHash = upcomingIndex !== undefined ? cache.get(upcomingIndex)?.hash : undefined;
  const preload = useRef<HTMLImageElement | null>(null);
  useEffect(() => {
    if (!upcomingHash) return;
    preload.current ??= new Image(); // held, so the download is not dropped with the element
    preload.current.src = client.mediaUrl('image', upcomingHash);
  }, [client, upcomingHash]);
  const classId = currentId === undefined ? null : overrides.has(currentId) ? overrides.get(currentId)! : (item?.classId ?? null);
  const cls = classId === null ? undefined : classes.find((c) => c.id === classId);
  const caption = currentId === undefined ? null : captions.has(currentId) ? captions.get(currentId)! : (item?.caption ?? null);

  const remaining = useMemo(() => ids.reduce((n, id) => n + (unlabeled.has(id) ? 1 : 0), 0), [ids, unlabeled]);

  useEffect(() => {
    rootRef.current?.focus();
  }, []);

  const move = (delta: number) => setPos((p) => Math.max(0, Math.min(ids.length - 1, p + delta)));

  const label = (target: number | null) => {
    if (currentId === undefined) return;
    const id = currentId;
    const wasUnlabeled = unlabeled.has(id);
    const next = new Set(unlabeled);
    if (target === null) next.add(id);
    else next.delete(id);
    setUnlabeled(next);
    void onLabel([id], target).then((ok) => {
      if (ok) return;
      setUnlabeled((set) => {
        const restored = new Set(set);
        if (wasUnlabeled) restored.add(id);
        else restored.delete(id);
        return restored;
      });
    });
    if (target !== null) {
      const after = nextUnlabeled(ids, position, (other) => next.has(other));
      if (after >= 0) setPos(after);
      // Reviewing a view with nothing left to label: a key relabels and moves on to the next image.
      else if (!wasUnlabeled) move(1);
    }
  };

  const latest = useRef({ label, move, onClose, currentId });
  useEffect(() => {
    latest.current = { label, move, onClose, currentId };
  });
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || isTypingTarget(event.target) || document.querySelector('dialog[open]')) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const { label: doLabel, move: doMove, onClose: close, currentId: id } = latest.current;
      let handled = true;
      switch (event.key) {
        case 'Escape':
          close(id ?? null);
          break;
        case 'ArrowRight':
          doMove(1);
          break;
        case 'ArrowLeft':
          doMove(-1);
          break;
        case '+':
        case '=':
          setZoom((z) => zoomBy(z, 1));
          break;
        case '-':
        case '_':
          setZoom((z) => zoomBy(z, -1));
          break;
        case '0':
          setZoom(1);
          break;
        case 'Backspace':
        case 'Delete':
          doLabel(null);
          break;
        default: {
          const target = classForKey(hotkeys, event.key);
          if (target !== undefined) doLabel(target);
          else handled = false;
        }
      }
      if (handled) event.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [hotkeys]);

  const saveCaption = async (id: number, text: string) => {
    try {
      const saved = await client.api['captions.set']({ imageId: id, text });
      setCaptions((map) => new Map(map).set(id, saved.caption));
      return true;
    } catch (e) {
      toast.error(e, 'Could not save the caption');
      return false;
    }
  };

  return (
    <div
      ref={rootRef}
      className="focus-view"
      data-testid="focus-view"
      data-image-id={currentId ?? ''}
      role="region"
      aria-label="Focus labeling"
      tabIndex={-1}
    >
      <div className="focus-bar">
        <button type="button" className="button button-small" onClick={() => onClose(currentId ?? null)} data-testid="focus-close">
          ← Grid <kbd>Esc</kbd>
        </button>
        <span className="focus-name" data-testid="focus-file-name" title={item?.fileName}>
          {item?.fileName ?? '…'}
        </span>
        <span className="muted" data-testid="focus-position">
          {ids.length > 0 ? `${formatInt(position + 1)} / ${formatInt(ids.length)}` : '0 / 0'}
        </span>
        <span className="focus-class" data-testid="focus-class">
          {cls ? (
            <>
              <span className="chip-dot" style={{ background: cls.color }} aria-hidden="true" />
              {cls.name}
            </>
          ) : (
            <span className="muted">unlabeled</span>
          )}
        </span>
        <span className="muted">
          <span data-testid="focus-remaining">{formatInt(remaining)}</span> unlabeled left
        </span>
        <span className="focus-zoom">
          <button type="button" className="button button-small" aria-label="Zoom out" onClick={() => setZoom((z) => zoomBy(z, -1))}>
            −
          </button>
          <span data-testid="focus-zoom">{Math.round(zoom * 100)}%</span>
          <button type="button" className="button button-small" aria-label="Zoom in" onClick={() => setZoom((z) => zoomBy(z, 1))}>
            +
          </button>
        </span>
      </div>

      <div className="focus-stage">
        {loadError ? (
          <p className="field-error">{errorMessage(loadError)}</p>
        ) : ids.length === 0 && snapshot ? (
          <p className="muted">No images in this view.</p>
        ) : item ? (
          <img
            className="focus-image"
            src={client.mediaUrl('image', item.hash)}
            alt={item.fileName}
            draggable={false}
            style={{ transform: `scale(${zoom})` }}
            onClick={() => move(1)}
          />
        ) : (
          <span className="spinner" aria-hidden="true" />
        )}
        {remaining === 0 && snapshot ? (
          <p className="focus-done" data-testid="focus-done" role="status">
            Everything in this view is labeled.
          </p>
        ) : null}
      </div>

      <div className="focus-footer">
        <div className="focus-classes" role="toolbar" aria-label="Label as">
          {classes.map((c) => (
            <button
              key={c.id}
              type="button"
              className="chip"
              aria-pressed={classId === c.id}
              data-testid={`focus-class-${c.name}`}
              onClick={() => label(c.id)}
            >
              <span className="chip-dot" style={{ background: c.color }} aria-hidden="true" />
              <span className="chip-label">{c.name}</span>
              {hotkeys.has(c.id) ? <kbd>{hotkeys.get(c.id)}</kbd> : null}
            </button>
          ))}
          <button type="button" className="chip" aria-pressed={classId === null} data-testid="focus-unlabel" onClick={() => label(null)}>
            <span className="chip-label">unlabeled</span>
            <kbd>⌫</kbd>
          </button>
        </div>
        {currentId !== undefined && item ? (
          <CaptionEditor key={currentId} initial={caption ?? ''} onSave={(text) => saveCaption(currentId, text)} />
        ) : null}
        <p className="focus-help muted">
          <kbd>←</kbd>/<kbd>→</kbd> move · class key labels and jumps to the next unlabeled · <kbd>⌫</kbd> unlabel · <kbd>+</kbd>/<kbd>−</kbd>/<kbd>0</kbd> zoom ·{' '}
          <kbd>Ctrl</kbd>+<kbd>Z</kbd> undo · <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>Z</kbd> redo
        </p>
      </div>
    </div>
  );
}

/** The image's caption: saved on blur or Ctrl+Enter; Esc leaves the field. */
function CaptionEditor({ initial, onSave }: { initial: string; onSave(text: string): Promise<boolean> }) {
  const [text, setText] = useState(initial);
  const [status, setStatus] = useState<'idle' | 'saving' | 'saved'>('idle');
  const save = async () => {
    if (text === initial) return;
    setStatus('saving');
    const ok = await onSave(text);
    setStatus(ok ? 'saved' : 'idle');
  };
  return (
    <div className="field focus-caption">
      <label htmlFor="focus-caption">
        Caption <span className="muted">(saved on leaving the field or Ctrl+Enter)</span>{' '}
        <span className="muted" data-testid="caption-status" role="status">
          {status === 'saving' ? 'saving…' : status === 'saved' ? 'saved' : ''}
        </span>
      </label>
      <textarea
        id="focus-caption"
        data-testid="focus-caption"
        className="input"
        rows={2}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setStatus('idle');
        }}
        onBlur={() => void save()}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            void save();
          } else if (e.key === 'Escape') {
            e.preventDefault();
            e.currentTarget.blur();
          }
        }}
      />
    </div>
  );
}
