import { afterEach, describe, expect, it } from 'vitest';
import { tempStudio } from '../../test/studio';

describe('API dispatch', () => {
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => current?.studio.close());

  const tableCounts = (s: ReturnType<typeof tempStudio>) =>
    Object.fromEntries(
      ['datasets', 'classes', 'images', 'imports'].map((t) => [t, s.studio.store.db.prepare(`SELECT COUNT(*) FROM ${t}`).pluck().get()]),
    );

  it('refuses bad input with a typed validation error and changes nothing in the database', async () => {
    current = tempStudio();
    const { dispatch } = current;
    await dispatch('datasets.create', { name: 'kept' });
    const before = tableCounts(current);

    const cases: [string, unknown, string][] = [
      ['datasets.create', { name: '   ' }, 'name'],
      ['datasets.create', { name: 'x'.repeat(201) }, 'name'],
      ['datasets.create', { name: 'ok', extra: 1 }, ''],
      ['datasets.rename', { id: -1, name: 'a' }, 'id'],
      ['datasets.delete', { id: '1' }, 'id'],
      ['images.page', { datasetId: 1, offset: 0, limit: 100_000 }, 'limit'],
      ['imports.start', { datasetId: 1, source: { kind: 'folder', path: '' } }, 'source.path'],
      ['imports.start', { datasetId: 1, source: { kind: 'ftp', path: '/x' } }, 'source.kind'],
      ['datasets.create', null, ''],
    ];
    for (const [channel, input, path] of cases) {
      const result = await dispatch(channel, input);
      expect(result.ok, `${channel} ${JSON.stringify(input)}`).toBe(false);
      if (result.ok) continue;
      expect(result.error.code).toBe('validation');
      expect(result.error.message).toMatch(new RegExp(`^Invalid input for ${channel.replace('.', '\\.')}`));
      if (path) expect(result.error.issues?.map((i) => i.path)).toContain(path);
    }
    expect(tableCounts(current)).toEqual(before);
  });

  it('refuses unknown channels, including prototype names', async () => {
    current = tempStudio();
    for (const channel of ['nope', 'constructor', '__proto__', 'toString']) {
      const result = await current.dispatch(channel, {});
      expect(result).toMatchObject({ ok: false, error: { code: 'validation', message: expect.stringMatching(/Unknown API call/) } });
    }
  });

  it('maps service failures to typed errors: not found, name conflicts', async () => {
    current = tempStudio();
    const { dispatch } = current;
    expect(await dispatch('datasets.get', { id: 999 })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await dispatch('datasets.create', { name: 'Birds' })).toMatchObject({ ok: true, value: { name: 'Birds', imageCount: 0 } });
    expect(await dispatch('datasets.create', { name: 'birds' })).toMatchObject({ ok: false, error: { code: 'conflict' } });
    const missing = await dispatch('imports.start', { datasetId: 1, source: { kind: 'folder', path: '/definitely/not/here' } });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringMatching(/does not exist/) } });
    expect(tableCounts(current).imports).toBe(0);
  });

  it('creates, renames, lists and deletes datasets', async () => {
    current = tempStudio();
    const { dispatch } = current;
    const created = await dispatch('datasets.create', { name: '  Flowers ' });
    expect(created).toMatchObject({ ok: true, value: { name: 'Flowers' } });
    const id = created.ok ? (created.value as { id: number }).id : 0;
    expect(await dispatch('datasets.rename', { id, name: 'Petals' })).toMatchObject({ ok: true, value: { name: 'Petals' } });
    expect(await dispatch('datasets.list', {})).toMatchObject({ ok: true, value: [{ id, name: 'Petals' }] });
    expect(await dispatch('datasets.delete', { id })).toEqual({ ok: true, value: { deleted: true } });
    expect(await dispatch('datasets.list', {})).toEqual({ ok: true, value: [] });
  });
});
