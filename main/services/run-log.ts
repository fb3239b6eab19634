// A run's log: one line per thing its worker said or the studio did to it (events, warnings,
// errors, the worker's stderr and stdout), appended to run.log in the run folder so it outlives
// the studio, bounded by rotating into run.log.1, and announced as it is written.
import { appendFile, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunLogLine } from '../../preload/api';

export const LOG_FILE = 'run.log';
const ROTATED_FILE = `${LOG_FILE}.1`;
/** Per file; one rotated file is kept, so a run's log never takes more than twice this. */
export const LOG_MAX_BYTES = 256 * 1024;
/** A single line longer than this (a minified stack in stderr) is cut. */
const MAX_LINE_CHARS = 2_000;

const LEVELS = new Set<RunLogLine['level']>(['info', 'warn', 'error']);

function parseLine(line: string): RunLogLine | undefined {
  const first = line.indexOf(' ');
  const second = line.indexOf(' ', first + 1);
  const level = line.slice(first + 1, second) as RunLogLine['level'];
  if (first < 0 || second < 0 || !LEVELS.has(level)) return undefined;
  return { time: line.slice(0, first), level, text: line.slice(second + 1) };
}

export function createRunLogs(runDir: (id: number) => string, announce: (id: number, lines: RunLogLine[]) => void) {
  // Appends of one run are chained so lines keep their order and rotation never races a write.
  const writers = new Map<number, { queue: Promise<void>; size: number | null }>();

  const writerOf = (id: number) => {
    let writer = writers.get(id);
    if (!writer) writers.set(id, (writer = { queue: Promise.resolve(), size: null }));
    return writer;
  };

  const append = async (id: number, text: string, writer: { size: number | null }) => {
    const file = join(runDir(id), LOG_FILE);
    writer.size ??= await stat(file).then(
      (s) => s.size,
      () => 0,
    );
    const bytes = Buffer.byteLength(text);
    if (writer.size > 0 && writer.size + bytes > LOG_MAX_BYTES) {
      await rename(file, join(runDir(id), ROTATED_FILE));
      writer.size = 0;
    }
    await appendFile(file, text);
    writer.size += bytes;
  };

  return {
    /** Logs `text` (split into lines; blank lines dropped) and announces it at once. */
    write(id: number, level: RunLogLine['level'], text: string): void {
      const time = new Date().toISOString();
      const lines = text
        .split(/\r?\n/)
        .map((t) => t.trimEnd().slice(0, MAX_LINE_CHARS))
        .filter((t) => t.trim() !== '')
        .map((t): RunLogLine => ({ time, level, text: t }));
      if (lines.length === 0) return;
      announce(id, lines);
      const writer = writerOf(id);
      const chunk = lines.map((l) => `${l.time} ${l.level} ${l.text}\n`).join('');
      writer.queue = writer.queue.then(() => append(id, chunk, writer)).catch((error: unknown) => {
        // The folder went away (run deleted) or the disk is full: the log is best effort.
        console.error(`run ${id}: cannot write its log:`, error instanceof Error ? error.message : error);
      });
    },
    /** The last `count` lines, oldest first (after every write so far has landed). */
    async tail(id: number, count: number): Promise<RunLogLine[]> {
      await writers.get(id)?.queue;
      const read = (name: string) => readFile(join(runDir(id), name), 'utf8').catch(() => '');
      const [older, newer] = await Promise.all([read(ROTATED_FILE), read(LOG_FILE)]);
      const lines = (older + newer).split('\n').filter((l) => l !== '');
      return lines
        .slice(-count)
        .map(parseLine)
        .filter((l): l is RunLogLine => l !== undefined);
    },
    /** Resolves once every write so far has landed (tests, shutdown). */
    flushed: (): Promise<unknown> => Promise.all([...writers.values()].map((w) => w.queue)),
  };
}

export type RunLogs = ReturnType<typeof createRunLogs>;
