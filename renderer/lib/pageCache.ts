/**
 * A lazily filled, page-granular cache of one image query (dataset + filter). The grid asks for
 * the item range it shows; the cache fetches the missing pages once each, and keeps stale pages
 * on screen while a refresh (after an import) replaces them, so the grid never flickers empty.
 * No DOM or React here: the grid subscribes and re-renders on `version` changes.
 */
import { pagesForRange } from './grid';

export interface PageResult<T> {
  total: number;
  items: T[];
}

/**
 * Fetches `limit` items from `offset`. `previous` is the item just before `offset` when the cache
 * holds it fresh: a fetcher may then ask for the items after it (keyset paging, which costs the
 * same at any depth) instead of skipping `offset` items.
 */
export type PageFetcher<T> = (offset: number, limit: number, previous: T | undefined) => Promise<PageResult<T>>;

export class PageCache<T> {
  private readonly pages = new Map<number, T[]>();
  private readonly stale = new Set<number>();
  private readonly inflight = new Set<number>();
  private readonly listeners = new Set<() => void>();
  private generation = 0;
  private disposed = false;
  /** Total from the latest answer; null until the first page arrives. */
  total: number | null = null;
  /** Bumped on every change, for useSyncExternalStore. */
  version = 0;

  constructor(
    private readonly fetcher: PageFetcher<T>,
    readonly pageSize = 256,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  get(index: number): T | undefined {
    const page = this.pages.get(Math.floor(index / this.pageSize));
    return page?.[index % this.pageSize];
  }

  /** Fetch every page touching items [start, end) that is missing or stale. */
  ensureRange(start: number, end: number): void {
    for (const page of pagesForRange(start, end, this.pageSize)) this.load(page);
  }

  /** The data changed (an import added images): keep showing what we have, but refetch on demand. */
  invalidate(): void {
    this.generation += 1;
    this.inflight.clear();
    for (const page of this.pages.keys()) this.stale.add(page);
    this.bump();
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }

  private load(page: number): void {
    if (this.inflight.has(page)) return;
    if (this.pages.has(page) && !this.stale.has(page)) return;
    if (this.total !== null && page * this.pageSize >= this.total && !this.stale.has(page)) return;
    const generation = this.generation;
    this.inflight.add(page);
    const before = page > 0 && !this.stale.has(page - 1) ? this.pages.get(page - 1) : undefined;
    const previous = before?.length === this.pageSize ? before[this.pageSize - 1] : undefined;
    this.fetcher(page * this.pageSize, this.pageSize, previous).then(
      (result) => {
        if (this.disposed || generation !== this.generation) return;
        this.inflight.delete(page);
        this.stale.delete(page);
        if (this.total !== result.total) {
          // The set changed under us: pages beyond the new end are gone, others may have shifted.
          for (const other of this.pages.keys()) {
            if (other !== page) this.stale.add(other);
            if (other * this.pageSize >= result.total) this.pages.delete(other);
          }
          this.total = result.total;
        }
        this.pages.set(page, result.items);
        this.bump();
      },
      (error: unknown) => {
        if (this.disposed || generation !== this.generation) return;
        this.inflight.delete(page);
        this.onError(error);
      },
    );
  }

  private bump(): void {
    this.version += 1;
    for (const listener of this.listeners) listener();
  }
}
