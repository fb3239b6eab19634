import { describe, expect, it } from 'vitest';
import { isTypingTarget, reduceShortcut } from './shortcuts';

const key = (k: string, extra: Partial<{ altKey: boolean; code: string; shiftKey: boolean; ctrlKey: boolean }> = {}) => ({
  key: k,
  altKey: false,
  ctrlKey: false,
  metaKey: false,
  ...extra,
});

describe('reduceShortcut', () => {
  it('completes g-sequences', () => {
    const first = reduceShortcut(null, key('g'));
    expect(first.pending).toBe('g');
    expect(reduceShortcut(first.pending, key('m')).section).toBe('models');
    expect(reduceShortcut('g', key('d')).section).toBe('datasets');
    expect(reduceShortcut('g', key('x'))).toEqual({ section: null, pending: null, help: false });
  });

  it('maps Alt+digit by physical key', () => {
    expect(reduceShortcut(null, key('¡', { altKey: true, code: 'Digit1' })).section).toBe('datasets');
    expect(reduceShortcut(null, key('3', { altKey: true })).section).toBe('runs');
    expect(reduceShortcut(null, key('9', { altKey: true })).section).toBeNull();
  });

  it('leaves modified keys alone and opens help on ?', () => {
    expect(reduceShortcut('g', key('d', { ctrlKey: true })).section).toBeNull();
    expect(reduceShortcut(null, key('?', { shiftKey: true })).help).toBe(true);
  });
});

describe('isTypingTarget', () => {
  it('recognises text fields', () => {
    expect(isTypingTarget({ tagName: 'INPUT', type: 'text' } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget({ tagName: 'TEXTAREA' } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: 'BUTTON' } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });
});
