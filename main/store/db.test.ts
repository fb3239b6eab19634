import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrations } from './migrations';
import { openStore } from './index';
import { openDb } from './db';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'studio-db-')), 'studio.db');

describe('store', () => {
  it('applies every migration once, with WAL and foreign keys on', () => {
    const file = tempDb();
    openDb(file).close();
    const db = openDb(file); // reopening must not re-apply anything
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(
      expect.arrayContaining(['datasets', 'classes', 'images', 'labels', 'splits', 'models', 'runs', 'metric_points', 'metric_summaries', 'checkpoints', 'previews', 'imports', 'import_issues']),
    );
    db.close();
  });

  it('refuses a database written by a newer studio', () => {
    const file = tempDb();
    const raw = new Database(file);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.close();
    expect(() => openDb(file)).toThrow(/newer PEFT Studio/);
  });

  it('deleting a dataset removes its classes, images and labels', () => {
    const store = openStore(tempDb());
    const datasetId = store.datasets.create('digits');
    const classId = store.datasets.ensureClass(datasetId, 'seven');
    expect(store.datasets.ensureClass(datasetId, 'seven')).toBe(classId);
    const hash = 'a'.repeat(64);
    const imageId = store.images.add({
      datasetId, hash, byteSize: 10, width: 28, height: 28, format: 'png',
      fileName: 'x.png', sourcePath: 'seven/x.png', importId: null, classId,
    });
    expect(imageId).not.toBeNull();
    // The same bytes again in the same dataset are a duplicate, not a second row.
    expect(store.images.add({ datasetId, hash, byteSize: 10, width: 28, height: 28, format: 'png', fileName: 'y.png', sourcePath: 'y.png', importId: null, classId: null })).toBeNull();
    expect(store.datasets.get(datasetId)).toMatchObject({ imageCount: 1, classCount: 1, unlabeledCount: 0 });
    store.datasets.delete(datasetId);
    expect(store.db.prepare('SELECT COUNT(*) FROM labels').pluck().get()).toBe(0);
    expect(store.db.prepare('SELECT COUNT(*) FROM classes').pluck().get()).toBe(0);
    expect(store.images.isHashReferenced(hash)).toBe(false);
    store.close();
  });

  it('marks imports left running by a dead studio as failed', () => {
    const store = openStore(tempDb());
    const datasetId = store.datasets.create('d');
    const importId = store.imports.start(datasetId, 'job-1', '/somewhere');
    expect(store.imports.failInterrupted()).toBe(1);
    expect(store.imports.get(importId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/stopped during this import/) });
    store.close();
  });
});
