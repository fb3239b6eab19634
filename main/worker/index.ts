// Training process entry. Started by child_process.fork (IPC via process.send / 'message') or by
// Electron's utilityProcess (process.parentPort); receives one run, drives the trainer, posts
// every event back, checkpoints and exits on `stop`, exits 1 with a one-line error on failure.
// It never imports electron or the store: the main process is the one writer of the database.
import { initBackend } from '../engine/backend';
import { disposeModel, loadModelFolder } from '../engine/io/checkpoint';
import { openTrainingData } from '../engine/train/data';
import { Trainer } from '../engine/train/trainer';
import { workerRequestSchema, type ParsedRunSpec, type WorkerMessage } from './protocol';

interface Port {
  onMessage(listener: (message: unknown) => void): void;
  /** The parent went away (fork's IPC channel closed). */
  onClose(listener: () => void): void;
  send(message: WorkerMessage): Promise<void>;
}

/** Electron's utilityProcess exposes parentPort on process; fork gives process.send. */
interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

function connect(): Port {
  const parentPort = (process as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      onMessage: (listener) => parentPort.on('message', (e) => listener(e.data)),
      // Electron ends a utility process together with its parent.
      onClose: () => undefined,
      send: async (message) => parentPort.postMessage(message),
    };
  }
  const send = process.send?.bind(process);
  if (!send) throw new Error('the training worker must be started with child_process.fork or utilityProcess');
  return {
    onMessage: (listener) => process.on('message', listener),
    onClose: (listener) => process.on('disconnect', listener),
    // Resolving on the callback gives back-pressure and lets exit wait until the last event left.
    // A send fails only when the channel is closing (EPIPE before 'disconnect' arrives): the
    // parent is gone, no one is left to tell, so the event is dropped and onClose ends the run.
    send: (message) => (process.connected ? new Promise((resolve) => send(message, undefined, {}, () => resolve())) : Promise.resolve()),
  };
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'unknown error';
}

async function main(): Promise<void> {
  const port = connect();
  let trainer: Trainer | undefined;
  let started = false;
  let stopBeforeStart = false;
  const fail = async (err: unknown) => {
    const message = oneLine(err);
    process.stderr.write(`peft-studio worker: ${message}\n`);
    await port.send({ type: 'error', message }).catch(() => undefined);
    process.exit(1);
  };

  const run = async ({ modelDir, dataDir, outDir, resume, spec }: ParsedRunSpec) => {
    const backend = await initBackend();
    await port.send({ type: 'backend', name: backend.name, reason: backend.reason });
    const model = await loadModelFolder(modelDir);
    try {
      const dataset = await openTrainingData(dataDir);
      // Events are posted without awaiting inside the loop; ordering is kept by the channel.
      const pending: Promise<void>[] = [];
      trainer = new Trainer({ model, dataset, spec, outDir, resume, onEvent: (e) => void pending.push(port.send(e)) });
      if (stopBeforeStart) trainer.stop();
      await trainer.run();
      await Promise.all(pending);
    } finally {
      disposeModel(model);
    }
  };

  // An orphaned run would train for nobody: checkpoint (so it can be resumed) and end.
  port.onClose(() => {
    if (trainer) trainer.stop();
    else process.exit(0);
  });

  port.onMessage((message) => {
    const parsed = workerRequestSchema.safeParse(message);
    if (!parsed.success) {
      void fail(new Error(`invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`));
      return;
    }
    const request = parsed.data;
    if (request.type === 'stop') {
      if (trainer) trainer.stop();
      else if (started) stopBeforeStart = true;
      else process.exit(0);
      return;
    }
    if (started) {
      void fail(new Error('this worker already has a run; start a new worker per run'));
      return;
    }
    started = true;
    run(request.run).then(
      () => process.exit(0),
      (err: unknown) => fail(err),
    );
  });
  await port.send({ type: 'ready', pid: process.pid });
}

// tfjs' wasm module rethrows from its own uncaughtException/unhandledRejection listeners, which
// dumps its minified source; ours go first and end the process with the one-line error instead.
const crash = (err: unknown) => {
  process.stderr.write(`peft-studio worker: ${oneLine(err)}\n`);
  process.exit(1);
};
process.prependListener('uncaughtException', crash);
process.prependListener('unhandledRejection', crash);

main().catch((err: unknown) => {
  process.stderr.write(`peft-studio worker: ${oneLine(err)}\n`);
  process.exit(1);
});
