import { describe, expect, it } from 'vitest';
import { formatCount, formatInt, percent, plural } from './format';

describe('formatters', () => {
  it('formats parameter counts compactly', () => {
    expect(formatCount(86_567_656)).toBe('86.6M');
    expect(formatCount(5_717_416)).toBe('5.72M');
    expect(formatCount(1_234)).toBe('1.23K');
    expect(formatCount(632_000_000)).toBe('632M');
    expect(formatCount(1_500_000_000)).toBe('1.5B');
    expect(formatCount(12)).toBe('12');
  });

  it('formats integers and plurals', () => {
    expect(formatInt(60000)).toBe('60,000');
    expect(plural(1, 'image')).toBe('1 image');
    expect(plural(2, 'class', 'classes')).toBe('2 classes');
  });

  it('clamps percentages', () => {
    expect(percent(5, 10)).toBe(50);
    expect(percent(5, 0)).toBe(0);
    expect(percent(12, 10)).toBe(100);
  });
});
