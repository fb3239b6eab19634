import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunLogLine } from '../../preload/api';
import { createRunLogs, LOG_FILE, LOG_MAX_BYTES } from './run-log';

describe('run log', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  function setup() {
    const root = mkdtempSync(join(tmpdir(), 'studio-run-log-'));
    dirs.push(root);
    mkdirSync(join(root, '1'));
    const announced: RunLogLine[] = [];
    const logs = createRunLogs((id) => join(root, String(id)), (_id, lines) => announced.push(...lines));
    return { root, logs, announced };
  }

  it('stores lines in order, splits multi-line text, drops blank lines and announces each line', async () => {
    const { logs, announced } = setup();
    logs.write(1, 'info', 'worker started');
    logs.write(1, 'warn', 'first line\n\n  second line  \r\n');
    logs.write(1, 'error', 'loss is NaN');
    const tail = await logs.tail(1, 10);
    expect(tail.map((l) => [l.level, l.text])).toEqual([
      ['info', 'worker started'],
      ['warn', 'first line'],
      ['warn', '  second line'],
      ['error', 'loss is NaN'],
    ]);
    expect(announced).toEqual(tail);
    expect(new Date(tail[0]!.time).getTime()).toBeGreaterThan(0);
    expect((await logs.tail(1, 2)).map((l) => l.text)).toEqual(['  second line', 'loss is NaN']);
  });

  it('stays bounded: the file rotates once it would pass the limit, and the tail spans both files', async () => {
    const { root, logs } = setup();
    const line = 'x'.repeat(990);
    const count = Math.ceil((3 * LOG_MAX_BYTES) / 1_000);
    for (let i = 0; i < count; i++) logs.write(1, 'info', `${i} ${line}`);
    await logs.flushed();
    const size = (name: string) => statSync(join(root, '1', name)).size;
    expect(size(LOG_FILE)).toBeLessThanOrEqual(LOG_MAX_BYTES);
    expect(size(`${LOG_FILE}.1`)).toBeLessThanOrEqual(LOG_MAX_BYTES);
    const tail = await logs.tail(1, 200);
    expect(tail).toHaveLength(200);
    expect(tail.at(-1)!.text.startsWith(`${count - 1} `)).toBe(true);
    expect(tail[0]!.text.startsWith(`${count - 200} `)).toBe(true);
  });

  it('a run without a log has an empty tail', async () => {
    const { logs } = setup();
    expect(await logs.tail(7, 10)).toEqual([]);
  });
});
