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

/** Turns anything thrown by a service into the typed body the UI shows; internals stay in the log. */
export function toErrorBody(error: unknown, log: (message: string) => void = console.error): StudioErrorBody {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  const sqliteCode = (error as { code?: string }).code;
  if (sqliteCode === 'SQLITE_CONSTRAINT_UNIQUE') {
    return { code: 'conflict', message: 'That name is already taken: choose another.' };
  }
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return { code: 'internal', message: `Unexpected error: ${error instanceof Error ? error.message : String(error)}` };
}
