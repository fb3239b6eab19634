import { describe, expect, it } from 'vitest';
import { StudioError } from '../../preload/api';
import { errorMessage, fieldErrors, messageFor } from './errors';

describe('errors', () => {
  const validation = new StudioError({
    code: 'validation',
    message: 'Invalid input',
    issues: [{ path: 'source.path', message: 'a path is required' }],
  });

  it('keys validation issues by their last path segment', () => {
    expect(fieldErrors(validation)).toEqual({ path: 'a path is required' });
    expect(fieldErrors(new Error('x'))).toEqual({});
  });

  it('finds the message for a field, or the error itself', () => {
    expect(messageFor(validation, 'path')).toBe('a path is required');
    expect(messageFor(new StudioError({ code: 'conflict', message: 'name taken' }), 'name')).toBe('name taken');
    expect(messageFor(null, 'name')).toBeNull();
  });

  it('has a message for anything thrown', () => {
    expect(errorMessage('weird')).toMatch(/went wrong/);
    expect(errorMessage(new StudioError({ code: 'io', message: 'disk full' }))).toBe('disk full');
  });
});
