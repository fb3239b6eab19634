import type { StudioErrorBody, StudioErrorCode } from '../../preload/api';

/** An error a person can act on; its message is shown as is. */
export class ServiceError extends Error {
  constructor(
    readonly code: StudioErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const notFound = (what: string): ServiceError => new ServiceError('not_found', `${what} does not exist (any more).`);

/** What a storage failure of the file system or of SQLite means for the person: what failed, why, and what to do. */
const STORAGE_REASONS: [RegExp, string, string][] = [
  [/^(ENOSPC|EDQUOT|SQLITE_FULL)$/, 'write', 'the disk is full. Free some space, then try again'],
  [/^(EROFS|SQLITE_READONLY.*)$/, 'write', 'it is read-only. Make the data folder writable (or choose another one), then try again'],
  [/^(EACCES|EPERM|SQLITE_CANTOPEN.*)$/, 'access', 'permission denied. Check the folder\'s permissions, then try again'],
  [/^(EIO|SQLITE_IOERR.*)$/, 'access', 'the disk reported an input/output error. Check the drive, then try again'],
];

/**
 * A file-system or SQLite storage failure (disk full, read-only, no permission, I/O error) as one
 * line a person can act on, typed `io`; undefined for any other error. Writers call it where they
 * write, so that a source file that cannot be read is not mistaken for a data folder that cannot
 * be written.
 */
export function storageError(error: unknown): ServiceError | undefined {
  if (error instanceof ServiceError) return error.code === 'io' ? error : undefined;
  const { code, path } = (error ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code !== 'string') return undefined;
  const match = STORAGE_REASONS.find(([pattern]) => pattern.test(code));
  if (!match) return undefined;
  // Temporary files of atomic writes (hidden names) mean nothing to a person: name their folder.
  const what = code.startsWith('SQLITE_') ? 'the studio database' : typeof path === 'string' ? path.replace(/([\\/]\.[^\\/]*)+$/, '') : 'the data folder';
  return new ServiceError('io', `Could not ${match[1]} ${what}: ${match[2]} (${code}).`);
}

/** Turns anything thrown by a service into the typed body the UI shows; internals stay in the log. */
export function toErrorBody(error: unknown, log: (message: string) => void = console.error): StudioErrorBody {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  const storage = storageError(error);
  if (storage) {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return { code: storage.code, message: storage.message };
  }
  const sqliteCode = (error as { code?: string }).code;
  if (sqliteCode === 'SQLITE_CONSTRAINT_UNIQUE') {
    return { code: 'conflict', message: 'That name is already taken: choose another.' };
  }
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return { code: 'internal', message: `Unexpected error: ${error instanceof Error ? error.message : String(error)}` };
}
