/**
 * Selection maths of the labeling grid: ranges, rubber-band hit tests, "next unlabeled".
 * Pure, unit tested; the grid only measures and asks these.
 */
import type { GridLayout } from '../../lib/grid';

/** Inclusive index range between two tiles, whichever comes first. */
export function rangeBetween(a: number, b: number): [number, number] {
  return a <= b ? [a, b] : [b, a];
}

/** The set with `ids` added (or, when all are already in it and `toggle`, removed). */
export function withIds(set: ReadonlySet<number>, ids: readonly number[], toggle = false): Set<number> {
  const next = new Set(set);
  if (toggle && ids.length > 0 && ids.every((id) => next.has(id))) ids.forEach((id) => next.delete(id));
  else ids.forEach((id) => next.add(id));
  return next;
}

export interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The rectangle spanned by two points, normalised. */
export function rectFrom(x0: number, y0: number, x1: number, y1: number): Rect {
  return { left: Math.min(x0, x1), top: Math.min(y0, y1), right: Math.max(x0, x1), bottom: Math.max(y0, y1) };
}

/**
 * Indices of the tiles a rectangle (in the grid canvas's coordinates) touches. Tiles sit at
 * x = pad + col·(tile+gap), y = pad + row·rowHeight; gaps between tiles hit nothing.
 */
export function indicesInRect(rect: Rect, layout: GridLayout, count: number, pad = layout.gap): number[] {
  if (count <= 0) return [];
  const stepX = layout.tileSize + layout.gap;
  const stepY = layout.rowHeight;
  const rows = Math.ceil(count / layout.columns);
  const firstRow = Math.max(0, Math.floor((rect.top - pad) / stepY));
  const lastRow = Math.min(rows - 1, Math.floor((rect.bottom - pad) / stepY));
  const firstCol = Math.max(0, Math.floor((rect.left - pad) / stepX));
  const lastCol = Math.min(layout.columns - 1, Math.floor((rect.right - pad) / stepX));
  const out: number[] = [];
  for (let row = firstRow; row <= lastRow; row += 1) {
    const top = pad + row * stepY;
    if (rect.bottom < top || rect.top > top + layout.tileSize) continue;
    for (let col = firstCol; col <= lastCol; col += 1) {
      const left = pad + col * stepX;
      if (rect.right < left || rect.left > left + layout.tileSize) continue;
      const index = row * layout.columns + col;
      if (index < count) out.push(index);
    }
  }
  return out;
}

/**
 * Position of the next image still unlabeled after `from` in `ids`, wrapping around to the
 * start; -1 when none is left (`from` itself is not a candidate).
 */
export function nextUnlabeled(ids: readonly number[], from: number, isUnlabeled: (id: number) => boolean): number {
  const n = ids.length;
  for (let step = 1; step < n; step += 1) {
    const at = (from + step) % n;
    if (isUnlabeled(ids[at]!)) return at;
  }
  if (n > 0 && (from < 0 || from >= n) && isUnlabeled(ids[0]!)) return 0;
  return -1;
}

/** Zoom steps of the focus view. */
export const ZOOM_MIN = 0.25;
export const ZOOM_MAX = 8;
export function zoomBy(zoom: number, direction: 1 | -1): number {
  const next = direction > 0 ? zoom * 1.25 : zoom / 1.25;
  return Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, Math.round(next * 1000) / 1000));
}

/**
 * "Label as predicted": the selected images grouped by the dataset class named like the class
 * the model predicted (one label action per class). Predictions of a class the dataset lacks are left out.
 */
export function byPredictedClass(
  predictions: readonly { imageId: number | null; pred: number }[],
  modelClasses: readonly string[],
  datasetClasses: readonly { id: number; name: string }[],
  selected: ReadonlySet<number>,
): Map<number, number[]> {
  const idByName = new Map(datasetClasses.map((c) => [c.name, c.id]));
  const groups = new Map<number, number[]>();
  for (const p of predictions) {
    if (p.imageId === null || !selected.has(p.imageId)) continue;
    const classId = idByName.get(modelClasses[p.pred]!);
    if (classId !== undefined) groups.set(classId, [...(groups.get(classId) ?? []), p.imageId]);
  }
  return groups;
}
