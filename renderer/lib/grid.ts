/**
 * Layout maths of the virtualized thumbnail grid. Pure functions, no DOM, so they are unit tested
 * and the grid component only measures its width and asks these.
 */

export interface GridLayout {
  /** Number of tiles per row (at least 1). */
  columns: number;
  /** Width and height of one square tile, in CSS pixels. */
  tileSize: number;
  /** Height of one virtual row: tile plus the gap below it. */
  rowHeight: number;
  gap: number;
}

/**
 * Fit as many tiles of at least `minTile` px as the width allows, then stretch them so the row
 * fills the width exactly (no ragged right edge).
 */
export function gridLayout(width: number, minTile = 148, gap = 8): GridLayout {
  const usable = Math.max(0, Math.floor(width));
  const columns = Math.max(1, Math.floor((usable + gap) / (minTile + gap)));
  const tileSize = Math.max(1, Math.floor((usable - gap * (columns - 1)) / columns));
  return { columns, tileSize, rowHeight: tileSize + gap, gap };
}

/** Rows needed to show `count` items in `columns` columns. */
export function rowCount(count: number, columns: number): number {
  if (count <= 0) return 0;
  return Math.ceil(count / Math.max(1, columns));
}

/** Item index range [start, end) covered by rows [firstRow, lastRow] inclusive. */
export function itemRangeForRows(firstRow: number, lastRow: number, columns: number, count: number): [number, number] {
  if (count <= 0 || lastRow < firstRow) return [0, 0];
  const start = Math.min(count, Math.max(0, firstRow) * columns);
  const end = Math.min(count, (lastRow + 1) * columns);
  return [start, end];
}

/** Page numbers (page = `pageSize` consecutive items) touched by items [start, end). */
export function pagesForRange(start: number, end: number, pageSize: number): number[] {
  if (end <= start || pageSize <= 0) return [];
  const first = Math.floor(start / pageSize);
  const last = Math.floor((end - 1) / pageSize);
  const pages: number[] = [];
  for (let page = first; page <= last; page += 1) pages.push(page);
  return pages;
}
