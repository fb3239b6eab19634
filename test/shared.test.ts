import { afterEach, describe, expect, it, vi } from 'vitest';
import { sharedPath } from './shared';

describe('sharedPath', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('returns undefined with a SKIPPED warning when the data is absent outside CI', () => {
    vi.stubEnv('CI', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(sharedPath('models/no-such-model')).toBeUndefined();
    expect(warn.mock.calls[0]![0]).toMatch(/^SKIPPED: .*shared\/models\/no-such-model not found/);
    warn.mockRestore();
  });

  it('throws under CI when the data is absent', () => {
    vi.stubEnv('CI', 'true');
    expect(() => sharedPath('models/no-such-model')).toThrow(/no-such-model is missing: CI must provide the shared test data/);
  });
});
