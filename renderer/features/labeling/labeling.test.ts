import { describe, expect, it } from 'vitest';
import { gridLayout } from '../../lib/grid';
import { assignHotkeys, classForKey, HOTKEY_POOL, labelForKey, RESERVED_KEYS } from './hotkeys';
import { byPredictedClass, indicesInRect, nextUnlabeled, rangeBetween, rectFrom, withIds, zoomBy, ZOOM_MAX } from './selection';

describe('class hotkeys', () => {
  it('gives 1–9 first, then letters that no global shortcut uses', () => {
    expect(HOTKEY_POOL.slice(0, 9).join('')).toBe('123456789');
    expect(HOTKEY_POOL[9]).toBe('a');
    for (const reserved of ['g', 'd', 'e', 'm', 'r']) {
      expect(RESERVED_KEYS.has(reserved)).toBe(true);
      expect(HOTKEY_POOL).not.toContain(reserved);
    }
    expect(HOTKEY_POOL).not.toContain('0');
    const classes = Array.from({ length: 40 }, (_, i) => ({ id: 100 + i }));
    const keys = assignHotkeys(classes);
    expect(keys.get(100)).toBe('1');
    expect(keys.get(108)).toBe('9');
    expect(keys.get(109)).toBe('a');
    expect(keys.get(111)).toBe('c');
    expect(keys.get(112)).toBe('f'); // d and e are the second keys of "g d" and "g e"
    expect(keys.size).toBe(HOTKEY_POOL.length);
    expect(new Set(keys.values()).size).toBe(keys.size);
  });

  it('maps a key press back to its class, ignoring case', () => {
    const keys = assignHotkeys(Array.from({ length: 12 }, (_, i) => ({ id: i + 1 })));
    expect(classForKey(keys, '3')).toBe(3);
    expect(classForKey(keys, 'B')).toBe(11);
    expect(classForKey(keys, '0')).toBeUndefined();
    expect(classForKey(keys, 'Enter')).toBeUndefined();
    // As a label: 0 and Backspace unlabel, other keys are no label at all.
    expect([labelForKey(keys, '3'), labelForKey(keys, '0'), labelForKey(keys, 'Backspace'), labelForKey(keys, 'Enter')]).toEqual([3, null, null, undefined]);
  });
});

describe('selection maths', () => {
  it('orders ranges and toggles sets', () => {
    expect(rangeBetween(7, 2)).toEqual([2, 7]);
    expect(rangeBetween(2, 2)).toEqual([2, 2]);
    expect([...withIds(new Set([1]), [2, 3])]).toEqual([1, 2, 3]);
    expect([...withIds(new Set([1, 2, 3]), [2, 3], true)]).toEqual([1]);
    expect([...withIds(new Set([1, 2]), [2, 3], true)]).toEqual([1, 2, 3]);
  });

  it('hit-tests a rubber band against the tiles it touches, not the gaps', () => {
    const layout = gridLayout(4 * 100 + 3 * 8, 100, 8); // 4 columns of 100 px, rows of 108
    expect(layout.columns).toBe(4);
    // From inside tile 0 to inside tile 5 (row 1, column 1).
    expect(indicesInRect(rectFrom(20, 20, 150, 150), layout, 20, 8)).toEqual([0, 1, 4, 5]);
    // Dragged upwards and leftwards: same tiles.
    expect(indicesInRect(rectFrom(150, 150, 20, 20), layout, 20, 8)).toEqual([0, 1, 4, 5]);
    // Only in the gap between columns 0 and 1: nothing.
    expect(indicesInRect(rectFrom(109, 20, 114, 60), layout, 20, 8)).toEqual([]);
    // Past the last item: clipped to count.
    expect(indicesInRect(rectFrom(0, 0, 1000, 1000), layout, 6, 8)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(indicesInRect(rectFrom(0, 0, 10, 10), layout, 0, 8)).toEqual([]);
  });

  it('finds the next unlabeled image, wrapping around', () => {
    const ids = [10, 11, 12, 13, 14];
    const unlabeled = new Set([11, 13]);
    const isUnlabeled = (id: number) => unlabeled.has(id);
    expect(nextUnlabeled(ids, 0, isUnlabeled)).toBe(1);
    expect(nextUnlabeled(ids, 1, isUnlabeled)).toBe(3);
    expect(nextUnlabeled(ids, 3, isUnlabeled)).toBe(1);
    unlabeled.delete(11);
    expect(nextUnlabeled(ids, 3, isUnlabeled)).toBe(-1);
    expect(nextUnlabeled([], 0, isUnlabeled)).toBe(-1);
  });

  it('groups selected images by the dataset class named like the predicted one', () => {
    const predictions = [
      { imageId: 1, pred: 0 },
      { imageId: 2, pred: 1 },
      { imageId: 3, pred: 0 },
      { imageId: 4, pred: 2 }, // a class the dataset lacks
      { imageId: null, pred: 0 }, // an image no longer in the dataset
      { imageId: 5, pred: 1 }, // not selected
    ];
    const groups = byPredictedClass(predictions, ['cat', 'dog', 'bird'], [{ id: 20, name: 'dog' }, { id: 10, name: 'cat' }], new Set([1, 2, 3, 4]));
    expect([...groups]).toEqual([[10, [1, 3]], [20, [2]]]);
  });

  it('zooms in steps within bounds', () => {
    expect(zoomBy(1, 1)).toBe(1.25);
    expect(zoomBy(1.25, -1)).toBe(1);
    let z = 1;
    for (let i = 0; i < 40; i++) z = zoomBy(z, 1);
    expect(z).toBe(ZOOM_MAX);
  });
});
