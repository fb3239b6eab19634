/**
 * The labeling side of the dataset page's main column: filters (split, import batch, file name;
 * the page's chips pick the class), the selection toolbar, the multi-select grid and the focus
 * view. Labels are applied optimistically (the grid shows them at once) and rolled back with a
 * toast when the studio refuses; undo/redo is the studio's own history.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { DatasetDetail, ImageItem, ImportReport, PredictionRun, Split } from '../../../preload/api';
import { isTypingTarget } from '../../app/shortcuts';
import { useStudio, useToast } from '../../app/StudioProvider';
import { formatInt } from '../../lib/format';
import type { PageCache } from '../../lib/pageCache';
import { FocusView } from './FocusView';
import { assignHotkeys, labelForKey } from './hotkeys';
import { LabelGrid, type TileClick } from './LabelGrid';
import { rangeBetween, withIds } from './selection';
import type { Filter, SplitFilter } from './types';

interface Props {
  datasetId: number;
  detail: DatasetDetail;
  /** The class the page's filter chips picked: undefined = any, null = unlabeled. */
  classFilter: number | null | undefined;
  /** The image count of the chip's filter, to lay the grid out before the first page. */
  expectedCount: number;
  refreshKey: number;
  /** Fetch the dataset again (counts, classes) and refresh the grid. */
  onChanged(): Promise<void> | void;
}

const SEARCH_DELAY_MS = 250;

export function LabelingWorkspace({ datasetId, detail, classFilter, expectedCount, refreshKey, onChanged }: Props) {
  const client = useStudio();
  const toast = useToast();
  const [split, setSplit] = useState<SplitFilter | ''>('');
  const [importId, setImportId] = useState<number | ''>('');
  const [searchText, setSearchText] = useState('');
  const [search, setSearch] = useState('');
  const [imports, setImports] = useState<ImportReport[]>([]);
  const [predictionRuns, setPredictionRuns] = useState<PredictionRun[]>([]);
  const [predictionRun, setPredictionRun] = useState<number | ''>('');
  /** '': every image the run scored; 'disagrees'; or a class id (predicted as that class). */
  const [predicted, setPredicted] = useState<'' | 'disagrees' | number>('');
  const [selected, setSelected] = useState<ReadonlySet<number>>(() => new Set());
  const [anchor, setAnchor] = useState(-1);
  const [active, setActive] = useState(-1);
  const [overrides, setOverridesState] = useState<ReadonlyMap<number, number | null>>(() => new Map());
  // Mirrored in a ref so a failed call can read what it replaced, synchronously.
  const overridesRef = useRef(overrides);
  const setOverrides = useCallback((update: (map: ReadonlyMap<number, number | null>) => ReadonlyMap<number, number | null>) => {
    overridesRef.current = update(overridesRef.current);
    setOverridesState(overridesRef.current);
  }, []);
  const [focus, setFocus] = useState<{ startId: number; filter: Filter } | null>(null);
  const [history, setHistory] = useState({ canUndo: true, canRedo: true });
  const [historyKey, setHistoryKey] = useState(0);
  const [total, setTotal] = useState<number | null>(null);
  // The grid under the focus view is hidden: it refreshes once when the view closes, not after
  // every keystroke (each refresh is a page and a count query on the studio's one database).
  const [gridRefreshKey, setGridRefreshKey] = useState(refreshKey);
  if (!focus && gridRefreshKey !== refreshKey) setGridRefreshKey(refreshKey);
  const cacheRef = useRef<PageCache<ImageItem> | null>(null);
  const onCache = useCallback((cache: PageCache<ImageItem> | null) => {
    cacheRef.current = cache;
  }, []);

  useEffect(() => {
    const timer = window.setTimeout(() => setSearch(searchText.trim()), SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [searchText]);

  const filter = useMemo<Filter>(
    () => ({
      ...(classFilter !== undefined ? { classId: classFilter } : {}),
      ...(split ? { split } : {}),
      ...(importId !== '' ? { importId } : {}),
      ...(search ? { search } : {}),
      ...(predictionRun !== ''
        ? { prediction: { runId: predictionRun, ...(predicted === 'disagrees' ? { disagrees: true as const } : predicted !== '' ? { classId: predicted } : {}) } }
        : {}),
    }),
    [classFilter, split, importId, search, predictionRun, predicted],
  );
  const filterKey = JSON.stringify(filter);
  const narrowed = split !== '' || importId !== '' || search !== '' || predictionRun !== '';

  // A new filter is a new list: the selection and the keyboard position start over.
  const [shownKey, setShownKey] = useState(filterKey);
  if (shownKey !== filterKey) {
    setShownKey(filterKey);
    setSelected(new Set());
    setAnchor(-1);
    setActive(-1);
  }
  // Images went away (a class deleted with its images, another window): the selection may name them.
  const [shownCount, setShownCount] = useState(detail.imageCount);
  if (shownCount !== detail.imageCount) {
    setShownCount(detail.imageCount);
    if (detail.imageCount < shownCount) {
      setSelected(new Set());
      setAnchor(-1);
    }
  }
  // Labels pointing at a class that was merged away or deleted give way to what the studio says.
  const classKey = detail.classes.map((c) => c.id).join(',');
  const shownOverrides = useMemo(() => {
    const live = new Set(classKey.split(',').filter(Boolean).map(Number));
    return new Map([...overrides].filter(([, c]) => c === null || live.has(c)));
  }, [overrides, classKey]);

  useEffect(() => {
    let live = true;
    client.api['imports.list']({ datasetId }).then(
      (list) => live && setImports(list),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [client, datasetId, detail.imageCount]);

  // Runs evaluated since the page opened show up when the list is opened again.
  const loadPredictionRuns = useCallback(() => {
    client.api['predictions.runs']({ datasetId }).then(setPredictionRuns, () => {});
  }, [client, datasetId]);
  useEffect(loadPredictionRuns, [loadPredictionRuns]);

  useEffect(() => {
    let live = true;
    client.api['images.page']({ datasetId, offset: 0, limit: 1, filter: JSON.parse(filterKey) as Filter }).then(
      (page) => live && setTotal(page.total),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [client, datasetId, filterKey, gridRefreshKey]);

  const hotkeys = useMemo(() => assignHotkeys(detail.classes), [detail.classes]);

  /** Ids of the grid's items at these indices: from loaded pages, or the filter's id list. */
  const idsAt = useCallback(
    async (indices: number[]): Promise<number[]> => {
      const cache = cacheRef.current;
      const loaded = indices.map((i) => cache?.get(i));
      if (loaded.every((item) => item !== undefined)) return loaded.map((item) => item!.id);
      const all = await client.api['images.ids']({ datasetId, filter: JSON.parse(filterKey) as Filter });
      return indices.map((i) => all[i]).filter((id): id is number => id !== undefined);
    },
    [client, datasetId, filterKey],
  );

  const onTileClick = useCallback(
    (index: number, item: ImageItem, how: TileClick) => {
      if (how.range && anchor >= 0) {
        const [a, b] = rangeBetween(anchor, index);
        idsAt(Array.from({ length: b - a + 1 }, (_, i) => a + i)).then(
          (ids) => setSelected((set) => (how.toggle ? withIds(set, ids) : new Set(ids))),
          (e: unknown) => toast.error(e, 'Could not select the range'),
        );
        return;
      }
      setAnchor(index);
      setSelected((set) => (how.toggle ? withIds(set, [item.id], true) : new Set([item.id])));
    },
    [anchor, idsAt, toast],
  );

  /** Shift+arrow keys: the range from the anchor (or the tile the keys started from) to where they went. */
  const onExtend = useCallback(
    (from: number, to: number) => {
      const start = anchor >= 0 ? anchor : from;
      setAnchor(start);
      const [a, b] = rangeBetween(start, to);
      idsAt(Array.from({ length: b - a + 1 }, (_, i) => a + i)).then(
        (ids) => setSelected(new Set(ids)),
        (e: unknown) => toast.error(e, 'Could not select the range'),
      );
    },
    [anchor, idsAt, toast],
  );

  const onBand = useCallback(
    (indices: number[], add: boolean) => {
      idsAt(indices).then(
        (ids) => setSelected((set) => (add ? withIds(set, ids) : new Set(ids))),
        (e: unknown) => toast.error(e, 'Could not select those images'),
      );
      if (indices.length > 0) setAnchor(indices[0]!);
    },
    [idsAt, toast],
  );

  const selectAll = useCallback(async () => {
    try {
      setSelected(new Set(await client.api['images.ids']({ datasetId, filter: JSON.parse(filterKey) as Filter })));
    } catch (e) {
      toast.error(e, 'Could not select all');
    }
  }, [client, datasetId, filterKey, toast]);

  /** Label images now, tell the studio, and take it back if the studio refuses. */
  const label = useCallback(
    async (imageIds: number[], classId: number | null): Promise<boolean> => {
      if (imageIds.length === 0) return true;
      const before = overridesRef.current;
      const previous = new Map(imageIds.map((id) => [id, before.has(id) ? before.get(id) : undefined]));
      setOverrides((map) => {
        const next = new Map(map);
        imageIds.forEach((id) => next.set(id, classId));
        return next;
      });
      try {
        const change = await client.api['labels.set']({ datasetId, imageIds, classId });
        setHistory({ canUndo: change.canUndo, canRedo: change.canRedo });
        await onChanged();
        return true;
      } catch (e) {
        setOverrides((map) => {
          const next = new Map(map);
          for (const [id, was] of previous) {
            if (was === undefined) next.delete(id);
            else next.set(id, was);
          }
          return next;
        });
        toast.error(e, `Labeling ${imageIds.length === 1 ? 'the image' : `${formatInt(imageIds.length)} images`} failed and was taken back`);
        return false;
      }
    },
    [client, datasetId, onChanged, setOverrides, toast],
  );

  const undo = useCallback(
    async (redo: boolean) => {
      try {
        const change = await client.api[redo ? 'labels.redo' : 'labels.undo']({ datasetId });
        setHistory({ canUndo: change.canUndo, canRedo: change.canRedo });
        if (change.imageIds.length === 0) {
          toast.info(redo ? 'Nothing to redo.' : 'Nothing to undo.');
          return;
        }
        const changed = new Set(change.imageIds);
        setOverrides((map) => new Map([...map].filter(([id]) => !changed.has(id))));
        setHistoryKey((k) => k + 1);
        await onChanged();
      } catch (e) {
        toast.error(e, redo ? 'Redo failed' : 'Undo failed');
      }
    },
    [client, datasetId, onChanged, setOverrides, toast],
  );

  const setSplitOf = useCallback(
    async (imageIds: number[], target: Split) => {
      if (imageIds.length === 0) return;
      try {
        await client.api['splits.set']({ datasetId, imageIds, split: target });
        toast.info(`${formatInt(imageIds.length)} ${imageIds.length === 1 ? 'image' : 'images'} moved to ${target}.`);
        await onChanged();
      } catch (e) {
        toast.error(e, 'Could not set the split');
      }
    },
    [client, datasetId, onChanged, toast],
  );

  /** What an action applies to: the selection, or else the tile with keyboard focus. */
  const targets = (): number[] => {
    if (selected.size > 0) return [...selected];
    const item = active >= 0 ? cacheRef.current?.get(active) : undefined;
    return item ? [item.id] : [];
  };

  const openFocus = useCallback(
    (index: number) => {
      const item = cacheRef.current?.get(Math.max(0, index));
      if (!item) return;
      setActive(Math.max(0, index));
      setFocus({ startId: item.id, filter: JSON.parse(filterKey) as Filter });
    },
    [filterKey],
  );
  const closeFocus = useCallback(() => {
    setFocus(null);
    window.setTimeout(() => document.querySelector<HTMLElement>('[data-testid="thumb-grid"]')?.focus({ preventScroll: true }), 0);
  }, []);

  const keyHandler = useRef<(event: KeyboardEvent) => void>(() => {});
  useEffect(() => {
    keyHandler.current = (event: KeyboardEvent) => {
      if (event.defaultPrevented || isTypingTarget(event.target) || document.querySelector('dialog[open]')) return;
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      if (mod && !event.altKey && (key === 'z' || key === 'y')) {
        event.preventDefault();
        void undo(key === 'y' || event.shiftKey);
        return;
      }
      if (focus) return; // the focus view handles its own keys
      if (mod && !event.altKey && key === 'a') {
        event.preventDefault();
        void selectAll();
        return;
      }
      if (mod || event.altKey) return;
      if (event.key === 'Escape' && selected.size > 0) {
        event.preventDefault();
        setSelected(new Set());
        return;
      }
      const classId = labelForKey(hotkeys, event.key);
      if (classId === undefined) return;
      event.preventDefault();
      const ids = targets();
      if (ids.length === 0) toast.info('Select images first (click, shift-click, drag, or Ctrl+A).');
      else void label(ids, classId);
    };
  });
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => keyHandler.current(event);
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <div className="labeling">
      <div className="label-filters" role="search" aria-label="Narrow the images">
        <input
          type="search"
          className="input input-small label-search"
          data-testid="filter-search"
          aria-label="Search file names"
          placeholder="Search file names…"
          value={searchText}
          onChange={(e) => setSearchText(e.target.value)}
          spellCheck={false}
        />
        <select className="input input-small" data-testid="filter-split" aria-label="Split" value={split} onChange={(e) => setSplit(e.target.value as SplitFilter | '')}>
          <option value="">Any split</option>
          <option value="train">train ({formatInt(detail.splitCounts.train)})</option>
          <option value="val">val ({formatInt(detail.splitCounts.val)})</option>
          <option value="test">test ({formatInt(detail.splitCounts.test)})</option>
          <option value="none">in no split ({formatInt(detail.splitCounts.none)})</option>
        </select>
        <select
          className="input input-small"
          data-testid="filter-import"
          aria-label="Import batch"
          value={importId}
          onChange={(e) => setImportId(e.target.value === '' ? '' : Number(e.target.value))}
        >
          <option value="">Any import</option>
          {imports.map((batch) => (
            <option key={batch.id} value={batch.id}>
              #{batch.id} {batch.source} ({formatInt(batch.added)})
            </option>
          ))}
        </select>
        {predictionRuns.length > 0 || predictionRun !== '' ? (
          <select
            className="input input-small"
            data-testid="filter-prediction-run"
            aria-label="Predictions of a run"
            value={predictionRun}
            onFocus={loadPredictionRuns}
            onChange={(e) => setPredictionRun(e.target.value === '' ? '' : Number(e.target.value))}
          >
            <option value="">Any prediction</option>
            {predictionRuns.map((run) => (
              <option key={run.runId} value={run.runId}>
                Run #{run.runId} {run.name} ({formatInt(run.count)} scored)
              </option>
            ))}
          </select>
        ) : null}
        {predictionRun !== '' ? (
          <select
            className="input input-small"
            data-testid="filter-prediction"
            aria-label="What the run predicted"
            value={predicted}
            onChange={(e) => setPredicted(e.target.value === '' || e.target.value === 'disagrees' ? e.target.value : Number(e.target.value))}
          >
            <option value="">scored by the run</option>
            <option value="disagrees">prediction ≠ label</option>
            {detail.classes.map((c) => (
              <option key={c.id} value={c.id}>
                predicted {c.name}
              </option>
            ))}
          </select>
        ) : null}
        {narrowed || searchText ? (
          <button
            type="button"
            className="button button-small button-ghost"
            onClick={() => {
              setSplit('');
              setImportId('');
              setSearchText('');
              setSearch('');
              setPredictionRun('');
              setPredicted('');
            }}
          >
            Clear filters
          </button>
        ) : null}
      </div>

      <div className="label-toolbar" role="toolbar" aria-label="Selection">
        <span className="label-selection">
          <strong data-testid="selection-count">{formatInt(selected.size)}</strong> selected of{' '}
          <span data-testid="filter-total">{total === null ? '…' : formatInt(total)}</span>
        </span>
        <button type="button" className="button button-small" data-testid="select-all" onClick={() => void selectAll()} aria-keyshortcuts="Control+A">
          Select all
        </button>
        <button type="button" className="button button-small" data-testid="selection-clear" onClick={() => setSelected(new Set())} disabled={selected.size === 0}>
          Clear
        </button>
        <select
          className="input input-small"
          data-testid="selection-label"
          aria-label="Label the selection as"
          value=""
          disabled={selected.size === 0}
          onChange={(e) => {
            const value = e.target.value;
            if (value !== '') void label([...selected], value === 'none' ? null : Number(value));
          }}
        >
          <option value="">Label as…</option>
          {detail.classes.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
              {hotkeys.has(c.id) ? ` (${hotkeys.get(c.id)})` : ''}
            </option>
          ))}
          <option value="none">unlabeled (0)</option>
        </select>
        <select
          className="input input-small"
          data-testid="selection-split"
          aria-label="Move the selection to a split"
          value=""
          disabled={selected.size === 0}
          onChange={(e) => {
            const value = e.target.value as Split | '';
            if (value) void setSplitOf([...selected], value);
          }}
        >
          <option value="">Set split…</option>
          <option value="train">train</option>
          <option value="val">val</option>
          <option value="test">test</option>
        </select>
        <span className="label-toolbar-end">
          <button type="button" className="button button-small" data-testid="undo-button" onClick={() => void undo(false)} disabled={!history.canUndo} aria-keyshortcuts="Control+Z">
            Undo
          </button>
          <button
            type="button"
            className="button button-small"
            data-testid="redo-button"
            onClick={() => void undo(true)}
            disabled={!history.canRedo}
            aria-keyshortcuts="Control+Shift+Z Control+Y"
          >
            Redo
          </button>
          <button type="button" className="button button-small button-primary" data-testid="focus-open" onClick={() => openFocus(active)} disabled={total === 0}>
            Focus view <kbd>Enter</kbd>
          </button>
        </span>
      </div>

      <div className="labeling-stage">
        <LabelGrid
          datasetId={datasetId}
          filter={filter}
          classes={detail.classes}
          expectedCount={narrowed ? 0 : expectedCount}
          refreshKey={gridRefreshKey}
          selected={selected}
          overrides={shownOverrides}
          active={active}
          onActiveChange={setActive}
          onTileClick={onTileClick}
          onOpen={openFocus}
          onExtend={onExtend}
          onBand={onBand}
          onCache={onCache}
        />
        {focus ? (
          <FocusView
            datasetId={datasetId}
            filter={focus.filter}
            startId={focus.startId}
            classes={detail.classes}
            hotkeys={hotkeys}
            overrides={shownOverrides}
            imageCount={detail.imageCount}
            historyKey={historyKey}
            onLabel={label}
            onClose={closeFocus}
          />
        ) : null}
      </div>
      <p className="label-help muted">
        Click, <kbd>Shift</kbd>+click, <kbd>Shift</kbd>+arrows, <kbd>Ctrl</kbd>+click or drag to select · <kbd>Ctrl</kbd>+<kbd>A</kbd> all · class key labels · <kbd>0</kbd>/<kbd>⌫</kbd> unlabel ·{' '}
        <kbd>Enter</kbd> focus view
      </p>
    </div>
  );
}
