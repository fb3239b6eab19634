/**
 * Class hotkeys: 1–9 first, then the letters a–z that no global shortcut uses (the "g d" style
 * navigation sequences of app/shortcuts.ts). Pure, unit tested.
 */
import { NAV_SHORTCUTS } from '../../app/shortcuts';

/** Letters a global shortcut may consume: every key of every navigation sequence. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(NAV_SHORTCUTS.flatMap((s) => s.sequence.map((k) => k.toLowerCase())));

/** Keys handed to classes, in order. */
export const HOTKEY_POOL: readonly string[] = [
  ...'123456789',
  ...[...'abcdefghijklmnopqrstuvwxyz'].filter((k) => !RESERVED_KEYS.has(k)),
];

/** Class id → hotkey, by the classes' order; classes beyond the pool get none. */
export function assignHotkeys(classes: readonly { id: number }[]): Map<number, string> {
  const out = new Map<number, string>();
  classes.slice(0, HOTKEY_POOL.length).forEach((c, i) => out.set(c.id, HOTKEY_POOL[i]!));
  return out;
}

/** The class a key press names, or undefined. Case-insensitive for letters. */
export function classForKey(hotkeys: ReadonlyMap<number, string>, key: string): number | undefined {
  const k = key.length === 1 ? key.toLowerCase() : key;
  for (const [id, hotkey] of hotkeys) if (hotkey === k) return id;
  return undefined;
}

/** What a key press labels the selection as: a class id, null (0 or Backspace unlabel), or undefined (not a label key). */
export function labelForKey(hotkeys: ReadonlyMap<number, string>, key: string): number | null | undefined {
  return key === '0' || key === 'Backspace' ? null : classForKey(hotkeys, key);
}
