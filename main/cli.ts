// peft-studio command line: a table of subcommands over the same engine the app uses.
// Errors print one line on stderr (the stack only with --debug) and exit non-zero.
import { parseArgs } from 'node:util';
import { initBackend } from './engine/backend';
import { openDataset } from './engine/data/dataset';
import { evaluate, type Prediction } from './engine/eval';
import { writeFileAtomic } from './engine/io/atomic';
import { disposeModel, loadModelFolder } from './engine/io/checkpoint';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: CliIO): Promise<number>;
}

/** A usage mistake: reported with the command's usage line. */
class UsageError extends Error {}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

const fmt = (x: number | null, digits = 4) => (x === null ? '-' : x.toFixed(digits));

const evalCommand: Command = {
  summary: 'score a model folder on a labelled data folder (ImageFolder or IDX)',
  usage: 'peft-studio eval --model DIR --data DIR [--limit N] [--batch N] [--predictions FILE] [--json] [--debug]',
  async run(args, io) {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        limit: { type: 'string' },
        batch: { type: 'string' },
        predictions: { type: 'string' },
        json: { type: 'boolean', default: false },
        debug: { type: 'boolean', default: false },
      },
    });
    if (!values.model) throw new UsageError('--model DIR is required');
    if (!values.data) throw new UsageError('--data DIR is required');
    const limit = positiveInt(values.limit, '--limit');
    const batchSize = positiveInt(values.batch, '--batch') ?? 32;

    const backend = await initBackend();
    const model = await loadModelFolder(values.model);
    try {
      const dataset = await openDataset(values.data, model.id2label);
      const lines: string[] = [];
      const onPrediction = values.predictions
        ? (p: Prediction) =>
            lines.push(JSON.stringify({ file: p.id, label: model.id2label[p.label], pred: model.id2label[p.pred], logits: p.logits }))
        : undefined;
      const result = await evaluate(model, dataset, { batchSize, limit, onPrediction });
      if (values.predictions) await writeFileAtomic(values.predictions, [Buffer.from(lines.join('\n') + '\n')]);

      if (values.json) {
        io.out(
          JSON.stringify({
            model: model.summary.name,
            layout: model.layout,
            params: model.paramCount,
            data: values.data,
            n: result.n,
            accuracy: result.accuracy,
            backend: backend.name,
            backend_reason: backend.reason,
            images_per_s: result.imagesPerSecond,
            forward_images_per_s: result.forwardImagesPerSecond,
            classes: result.classes,
            per_class: result.perClass,
            confusion: result.confusion,
          }) + '\n',
        );
        return 0;
      }
      const width = Math.max(5, ...result.classes.map((c) => c.length));
      const out: string[] = [
        `model     ${model.summary.name} (${model.layout} layout, ${model.paramCount.toLocaleString('en')} params)`,
        `data      ${values.data} (${result.n} images)`,
        `backend   ${backend.name} (${backend.reason})`,
        `accuracy  ${fmt(result.accuracy)} (${Math.round(result.accuracy * result.n)}/${result.n})`,
        `speed     ${result.imagesPerSecond.toFixed(1)} images/s end to end, ${result.forwardImagesPerSecond.toFixed(1)} images/s forward`,
        '',
        `${'class'.padEnd(width)}  precision  recall  support`,
        ...result.perClass.map(
          (c) => `${c.name.padEnd(width)}  ${fmt(c.precision).padStart(9)}  ${fmt(c.recall).padStart(6)}  ${String(c.support).padStart(7)}`,
        ),
        '',
        'confusion (rows: true class, columns: predicted)',
        `${''.padEnd(width)} ${result.classes.map((c) => c.padStart(5)).join('')}`,
        ...result.confusion.map((row, i) => `${result.classes[i]!.padEnd(width)} ${row.map((v) => String(v).padStart(5)).join('')}`),
      ];
      io.out(out.join('\n') + '\n');
      return 0;
    } finally {
      disposeModel(model);
    }
  },
};

/**
 * Subcommands. Commands that need the store (import-model, train, ...) are added here and build
 * their services themselves; the engine-only ones stay usable without an app data folder.
 */
const COMMANDS: Readonly<Record<string, Command>> = {
  eval: evalCommand,
};

function help(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return ['usage: peft-studio <command> [options]', '', ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`)].join('\n') + '\n';
}

const processIO: CliIO = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Runs one command line; returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`peft-studio: unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (rest.includes('--debug')) io.err(`${e.stack ?? e.message}\n`);
    else io.err(`peft-studio ${name}: ${e.message.split('\n')[0]}\n`);
    if (err instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`usage: ${command.usage}\n`);
      return 2;
    }
    return 1;
  }
}
