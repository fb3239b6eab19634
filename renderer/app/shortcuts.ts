/**
 * Global navigation shortcuts: "g" then "d"/"m"/"r"/"p"/"e" (like GitHub), or Alt+1..5.
 * The key logic is a pure reducer so it is unit tested without a DOM.
 */
import type { Section } from './routes';

export interface ShortcutDef {
  section: Section;
  label: string;
  sequence: [string, string];
  altDigit: string;
}

export const NAV_SHORTCUTS: ShortcutDef[] = [
  { section: 'datasets', label: 'Datasets', sequence: ['g', 'd'], altDigit: '1' },
  { section: 'models', label: 'Models', sequence: ['g', 'm'], altDigit: '2' },
  { section: 'runs', label: 'Runs', sequence: ['g', 'r'], altDigit: '3' },
  { section: 'previews', label: 'Previews', sequence: ['g', 'p'], altDigit: '4' },
  { section: 'generate', label: 'Generate', sequence: ['g', 'e'], altDigit: '5' },
];

export interface KeyLike {
  key: string;
  code?: string;
  altKey: boolean;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey?: boolean;
}

export interface ShortcutResult {
  /** Where to go, if the key completed a shortcut. */
  section: Section | null;
  /** The first key of a sequence waiting for its second ("g"), or null. */
  pending: string | null;
  /** The "?" key: show the shortcut help. */
  help: boolean;
}

export function reduceShortcut(pending: string | null, event: KeyLike): ShortcutResult {
  const none: ShortcutResult = { section: null, pending: null, help: false };
  if (event.ctrlKey || event.metaKey) return none;
  if (event.altKey) {
    const digit = event.code?.startsWith('Digit') ? event.code.slice(5) : event.key;
    const hit = NAV_SHORTCUTS.find((s) => s.altDigit === digit);
    return { ...none, section: hit?.section ?? null };
  }
  const key = event.key.toLowerCase();
  if (pending !== null) {
    const hit = NAV_SHORTCUTS.find((s) => s.sequence[0] === pending && s.sequence[1] === key);
    if (hit) return { ...none, section: hit.section };
  }
  if (event.key === '?') return { ...none, help: true };
  if (NAV_SHORTCUTS.some((s) => s.sequence[0] === key) && !event.shiftKey) return { ...none, pending: key };
  return none;
}

/** Whether a keyboard event comes from somewhere the user types text (shortcuts stay quiet there). */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!target || typeof (target as { tagName?: unknown }).tagName !== 'string') return false;
  const element = target as unknown as { tagName: string; isContentEditable?: boolean; type?: string };
  const tag = element.tagName.toLowerCase();
  if (element.isContentEditable) return true;
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range', 'file'].includes(element.type ?? 'text');
  return false;
}
