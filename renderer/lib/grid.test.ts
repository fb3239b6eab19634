import { describe, expect, it } from 'vitest';
import { gridLayout, itemRangeForRows, pagesForRange, rowCount } from './grid';

describe('gridLayout', () => {
  it('fits as many minimum-size tiles as the width allows and fills the row', () => {
    const layout = gridLayout(1000, 148, 8);
    expect(layout.columns).toBe(6); // 6*148 + 5*8 = 928 ≤ 1000; 7 would need 1084
    expect(layout.tileSize * layout.columns + layout.gap * (layout.columns - 1)).toBeLessThanOrEqual(1000);
    expect(layout.tileSize).toBeGreaterThanOrEqual(148);
    expect(layout.rowHeight).toBe(layout.tileSize + 8);
  });

  it('keeps one column on narrow or unmeasured widths', () => {
    expect(gridLayout(0).columns).toBe(1);
    expect(gridLayout(100, 148).columns).toBe(1);
    expect(gridLayout(0).tileSize).toBeGreaterThan(0);
  });

  it('is exact at the boundary', () => {
    expect(gridLayout(148 * 3 + 8 * 2, 148, 8).columns).toBe(3);
    expect(gridLayout(148 * 3 + 8 * 2 - 1, 148, 8).columns).toBe(2);
  });
});

describe('rows and ranges', () => {
  it('counts rows of a 60,000 image dataset', () => {
    expect(rowCount(60_000, 7)).toBe(8572);
    expect(rowCount(0, 7)).toBe(0);
    expect(rowCount(7, 7)).toBe(1);
  });

  it('maps visible rows to item indices, clamped to the count', () => {
    expect(itemRangeForRows(2, 4, 5, 100)).toEqual([10, 25]);
    expect(itemRangeForRows(18, 25, 5, 93)).toEqual([90, 93]);
    expect(itemRangeForRows(3, 2, 5, 100)).toEqual([0, 0]);
  });

  it('lists the pages an item range touches', () => {
    expect(pagesForRange(0, 10, 256)).toEqual([0]);
    expect(pagesForRange(250, 520, 256)).toEqual([0, 1, 2]);
    expect(pagesForRange(256, 512, 256)).toEqual([1]);
    expect(pagesForRange(5, 5, 256)).toEqual([]);
  });
});
