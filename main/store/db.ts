import Database from 'better-sqlite3';
import { migrations } from './migrations';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the studio database: WAL so readers never block the one writer,
 * foreign keys on, and every pending migration applied in its own transaction.
 */
export function openDb(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(
      `The data folder was written by a newer PEFT Studio (schema ${current}, this one knows ${migrations.length}): update the studio.`,
    );
  }
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version].sql);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
