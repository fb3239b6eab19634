/**
 * The labeling grid: the dataset page's virtualized, paged thumbnail grid (same layout maths
 * and page cache helpers in lib/) plus multi-selection — click, shift-click range,
 * ctrl/cmd-click toggle, rubber-band drag — and labels shown optimistically before the server
 * answers. Only the rows in view exist in the DOM, so it stays smooth at 60,000 images.
 */
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore, type KeyboardEvent, type MouseEvent as ReactMouseEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { ClassSummary, ImageItem } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { gridLayout, itemRangeForRows, rowCount } from '../../lib/grid';
import { PageCache } from '../../lib/pageCache';
import { indicesInRect, rectFrom, type Rect } from './selection';
import type { Filter } from './types';

const PAGE_SIZE = 240;
const MIN_TILE = 136;
const GAP = 8;
const DRAG_THRESHOLD = 5;

export interface TileClick {
  /** Shift: extend from the anchor. */
  range: boolean;
  /** Ctrl/Cmd: add or remove this one. */
  toggle: boolean;
}

interface Props {
  datasetId: number;
  filter: Filter;
  classes: ClassSummary[];
  /** Count to lay out before the first page answers. */
  expectedCount: number;
  /** Bumped when the dataset changed: cached pages are refetched as they come into view. */
  refreshKey: number;
  selected: ReadonlySet<number>;
  /** Labels set here and not yet (or just) confirmed by a refetch: image id → class id or null. */
  overrides: ReadonlyMap<number, number | null>;
  active: number;
  onActiveChange(index: number): void;
  onTileClick(index: number, item: ImageItem, how: TileClick): void;
  onOpen(index: number): void;
  /** Shift+arrow/Page/Home/End moved the keyboard focus from `from` to `to`: select from the anchor to `to`. */
  onExtend(from: number, to: number): void;
  /** A rubber band ended over these tiles; `add` when Ctrl/Cmd/Shift was held. */
  onBand(indices: number[], add: boolean): void;
  /** The page cache of the current filter, for the workspace to read loaded items from. */
  onCache(cache: PageCache<ImageItem> | null): void;
}

export const LabelGrid = memo(function LabelGrid(props: Props) {
  const { datasetId, filter, classes, expectedCount, refreshKey, selected, overrides, active, onActiveChange, onTileClick, onOpen, onExtend, onBand, onCache } = props;
  const client = useStudio();
  const toast = useToast();
  const scrollRef = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [band, setBand] = useState<Rect | null>(null);
  const suppressClick = useRef(false);

  const filterJson = JSON.stringify(filter);
  const cache = useMemo(
    () =>
      new PageCache<ImageItem>(
        async (offset, limit, previous) => {
          const page = await client.api['images.page']({ datasetId, offset, limit, afterId: previous?.id, filter: JSON.parse(filterJson) as Filter });
          return { total: page.total, items: page.items };
        },
        PAGE_SIZE,
        (e) => toast.error(e, 'Could not load images'),
      ),
    [client, datasetId, filterJson, toast],
  );
  useEffect(() => {
    onCache(cache);
    return () => {
      onCache(null);
      cache.dispose();
    };
  }, [cache, onCache]);

  const lastRefresh = useRef(refreshKey);
  useEffect(() => {
    if (lastRefresh.current === refreshKey) return;
    lastRefresh.current = refreshKey;
    cache.invalidate();
  }, [cache, refreshKey]);

  const version = useSyncExternalStore(cache.subscribe, cache.getVersion);

  useLayoutEffect(() => {
    const element = scrollRef.current;
    if (!element) return;
    const measure = () => setWidth(element.clientWidth);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const layout = gridLayout(Math.max(0, width - 2 * GAP), MIN_TILE, GAP);
  const count = cache.total ?? expectedCount;
  const rows = rowCount(count, layout.columns);

  const virtualizer = useVirtualizer({
    count: rows,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => layout.rowHeight,
    overscan: 4,
    paddingStart: GAP,
    paddingEnd: GAP,
  });
  useEffect(() => {
    virtualizer.measure();
  }, [virtualizer, layout.rowHeight]);

  const virtualRows = virtualizer.getVirtualItems();
  const firstRow = virtualRows.length > 0 ? virtualRows[0].index : 0;
  const lastRow = virtualRows.length > 0 ? virtualRows[virtualRows.length - 1].index : -1;

  useEffect(() => {
    cache.ensureRange(0, 1);
    if (cache.total === null) return;
    const [start, end] = itemRangeForRows(firstRow, lastRow, layout.columns, count);
    cache.ensureRange(start, end);
  }, [cache, firstRow, lastRow, layout.columns, count, version]);

  const activeIndex = active >= count ? count - 1 : active;
  const moveTo = (index: number) => {
    if (count === 0) return;
    const next = Math.max(0, Math.min(count - 1, index));
    onActiveChange(next);
    virtualizer.scrollToIndex(Math.floor(next / layout.columns), { align: 'auto' });
  };
  // Opening the focus view and coming back (or a filter change) may move the active tile: keep it in view.
  useEffect(() => {
    if (active >= 0 && layout.columns > 0) virtualizer.scrollToIndex(Math.floor(active / layout.columns), { align: 'auto' });
  }, [active, layout.columns, virtualizer]);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const current = activeIndex < 0 ? 0 : activeIndex;
    const pageRows = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 0) / layout.rowHeight));
    const moves: Record<string, number> = {
      ArrowRight: current + 1,
      ArrowLeft: current - 1,
      ArrowDown: current + layout.columns,
      ArrowUp: current - layout.columns,
      PageDown: current + pageRows * layout.columns,
      PageUp: current - pageRows * layout.columns,
      Home: event.ctrlKey ? 0 : current - (current % layout.columns),
      End: event.ctrlKey ? count - 1 : current - (current % layout.columns) + layout.columns - 1,
    };
    if (event.key in moves && !event.altKey) {
      event.preventDefault();
      const target = activeIndex < 0 ? 0 : Math.max(0, Math.min(count - 1, moves[event.key]!));
      moveTo(target);
      if (event.shiftKey && count > 0) onExtend(current, target);
    } else if (event.key === 'Enter' && activeIndex >= 0 && cache.get(activeIndex)) {
      event.preventDefault();
      onOpen(activeIndex);
    } else if (event.key === ' ' && activeIndex >= 0) {
      const item = cache.get(activeIndex);
      if (item) {
        event.preventDefault();
        onTileClick(activeIndex, item, { range: event.shiftKey, toggle: true });
      }
    }
  };

  // Rubber band: a drag of more than a few pixels selects the tiles it touches; a short one is a click.
  const onMouseDown = (event: ReactMouseEvent<HTMLDivElement>) => {
    const element = scrollRef.current;
    if (event.button !== 0 || !element) return;
    const box = element.getBoundingClientRect();
    if (event.clientX - box.left >= element.clientWidth) return; // on the scrollbar
    event.preventDefault(); // no text selection while dragging
    element.focus({ preventScroll: true });
    const toCanvas = (clientX: number, clientY: number) => [clientX - box.left, clientY - box.top + element.scrollTop] as const;
    const [x0, y0] = toCanvas(event.clientX, event.clientY);
    const add = event.ctrlKey || event.metaKey || event.shiftKey;
    let dragging = false;
    let rect: Rect | null = null;
    suppressClick.current = false;
    const move = (e: MouseEvent) => {
      const [x1, y1] = toCanvas(e.clientX, e.clientY);
      if (!dragging && Math.hypot(x1 - x0, y1 - y0) < DRAG_THRESHOLD) return;
      dragging = true;
      rect = rectFrom(x0, y0, x1, y1);
      setBand(rect);
    };
    const up = () => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      if (!dragging || !rect) return;
      suppressClick.current = true;
      window.setTimeout(() => (suppressClick.current = false), 0);
      setBand(null);
      onBand(indicesInRect(rect, layout, count, GAP), add);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };

  const classById = useMemo(() => new Map(classes.map((c) => [c.id, c])), [classes]);
  const tileId = (index: number) => `label-tile-${datasetId}-${index}`;

  return (
    <div
      ref={scrollRef}
      className="thumb-scroll label-grid"
      role="grid"
      aria-label="Images"
      aria-multiselectable="true"
      aria-rowcount={rows}
      aria-colcount={layout.columns}
      aria-busy={cache.total === null}
      tabIndex={0}
      aria-activedescendant={activeIndex >= 0 && cache.get(activeIndex) ? tileId(activeIndex) : undefined}
      onKeyDown={onKeyDown}
      onMouseDown={onMouseDown}
      onFocus={() => {
        if (active >= 0 || count === 0) return;
        const top = scrollRef.current?.scrollTop ?? 0;
        onActiveChange(Math.min(count - 1, Math.ceil(Math.max(0, top - GAP) / layout.rowHeight) * layout.columns));
      }}
      data-testid="thumb-grid"
      data-total={cache.total ?? ''}
    >
      <div className="thumb-canvas" style={{ height: virtualizer.getTotalSize() }}>
        {virtualRows.map((row) => {
          const start = row.index * layout.columns;
          const end = Math.min(count, start + layout.columns);
          const cells = [];
          for (let index = start; index < end; index += 1) {
            const item = cache.get(index);
            if (!item) {
              cells.push(<div key={`p-${index}`} role="gridcell" aria-busy="true" className="tile tile-placeholder" style={{ width: layout.tileSize, height: layout.tileSize }} />);
              continue;
            }
            const classId = overrides.has(item.id) ? overrides.get(item.id)! : item.classId;
            const cls = classId !== null ? classById.get(classId) : undefined;
            const isSelected = selected.has(item.id);
            const className = ['tile', index === activeIndex ? 'tile-active' : '', isSelected ? 'tile-selected' : ''].filter(Boolean).join(' ');
            cells.push(
              <div
                key={item.id}
                id={tileId(index)}
                role="gridcell"
                aria-selected={isSelected}
                aria-colindex={index - start + 1}
                className={className}
                data-testid="thumb-tile"
                data-index={index}
                data-image-id={item.id}
                data-file-name={item.fileName}
                data-class={cls?.name ?? ''}
                data-split={item.split ?? ''}
                title={`${item.fileName} · ${item.width}×${item.height}${cls ? ` · ${cls.name}` : ' · unlabeled'}${item.split ? ` · ${item.split}` : ''}`}
                onClick={(event) => {
                  if (suppressClick.current) return;
                  onActiveChange(index);
                  onTileClick(index, item, { range: event.shiftKey, toggle: event.ctrlKey || event.metaKey });
                }}
                onDoubleClick={() => onOpen(index)}
                style={{ width: layout.tileSize, height: layout.tileSize }}
              >
                <img src={client.mediaUrl('thumb', item.hash)} alt={item.fileName} loading="lazy" decoding="async" draggable={false} />
                {isSelected ? <span className="tile-check" aria-hidden="true">✓</span> : null}
                {item.split ? <span className={`tile-split tile-split-${item.split}`}>{item.split}</span> : null}
                {cls ? (
                  <span className="tile-badge" style={{ ['--class-color' as string]: cls.color }}>
                    <span className="tile-badge-dot" aria-hidden="true" />
                    <span className="tile-badge-name">{cls.name}</span>
                  </span>
                ) : (
                  <span className="tile-badge tile-badge-unlabeled" aria-label="unlabeled" />
                )}
              </div>,
            );
          }
          return (
            <div
              key={row.key}
              role="row"
              aria-rowindex={row.index + 1}
              className="thumb-row"
              style={{ transform: `translateY(${row.start}px)`, height: layout.tileSize, gap: GAP, paddingInline: GAP }}
            >
              {cells}
            </div>
          );
        })}
        {band ? (
          <div
            className="rubber-band"
            data-testid="rubber-band"
            aria-hidden="true"
            style={{ left: band.left, top: band.top, width: band.right - band.left, height: band.bottom - band.top }}
          />
        ) : null}
      </div>
    </div>
  );
});
