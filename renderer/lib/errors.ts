/** Turning failed calls into text a person can act on. */
import { StudioError } from '../../preload/api';

/** One line for a toast or an inline message. */
export function errorMessage(error: unknown): string {
  if (error instanceof StudioError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong; the details are in the studio log.';
}

/**
 * Validation issues keyed by field: the last segment of the issue path ("source.path" → "path",
 * "name" → "name"); issues without a path are keyed "". Empty when the error is not a validation.
 */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(error instanceof StudioError) || error.code !== 'validation') return out;
  for (const issue of error.issues ?? []) {
    const key = issue.path.split('.').filter(Boolean).pop() ?? '';
    if (!(key in out)) out[key] = issue.message;
  }
  return out;
}

/** A field's message from a failed call, falling back to the error's own message when none names it. */
export function messageFor(error: unknown, field: string): string | null {
  if (!error) return null;
  const fields = fieldErrors(error);
  return fields[field] ?? fields[''] ?? (Object.keys(fields).length === 0 ? errorMessage(error) : Object.values(fields)[0]);
}
