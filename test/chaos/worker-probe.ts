// Preloaded into a training worker by the training chaos test (`--require` after tsx), never by
// the studio. It changes no behaviour of the worker except one deliberate pause, and records what
// the worker is doing so the test knows where its SIGKILL landed:
//   CHAOS_PROBE_LOG       file that receives one line per event: "<pid> <event> <detail>"
//                         (appended synchronously, so a line is on disk before any kill)
//   CHAOS_PAUSE_AT_WRITE  n: during this process's n-th checkpoint state-file write, pause
//   CHAOS_PAUSE_MS        for this long after the header, before the tensor bytes
//                         (so a kill sent on "write-paused" lands inside the write)
//   CHAOS_FAIL_AT_WRITE   n: the n-th checkpoint state-file write fails at that point instead,
//   CHAOS_FAIL_CODE       with this errno code (ENOSPC: a disk that fills up mid-checkpoint)
// Events: ready; write-begin/write-paused/write-end STEP (the checkpoint's state file); the
// messages the worker sends: step N, checkpoint N, start RESUMED_STEP SKIPPED_JSON, done.
import { appendFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

const logFile = process.env.CHAOS_PROBE_LOG;
if (!logFile) throw new Error('worker-probe: CHAOS_PROBE_LOG is not set');
const pauseAt = Number(process.env.CHAOS_PAUSE_AT_WRITE || 0);
const pauseMs = Number(process.env.CHAOS_PAUSE_MS || 500);
const failAt = Number(process.env.CHAOS_FAIL_AT_WRITE || 0);
const failCode = process.env.CHAOS_FAIL_CODE || 'ENOSPC';
const mark = (line: string) => appendFileSync(logFile, `${process.pid} ${line}\n`);

// The state file's temporary name inside the checkpoint's temporary folder (see saveCheckpoint
// and writeFileAtomic): …/.step-00000008.<hex>.tmp/.state.safetensors.<pid>.<hex>.tmp
const CHECKPOINT_STATE = /[\\/]\.step-(\d+)\.[0-9a-f]+\.tmp[\\/]\.state\.safetensors\./;
let stateWrites = 0;
const open = fsp.open;
fsp.open = async function probedOpen(...args: Parameters<typeof open>): Promise<FileHandle> {
  const handle = await open(...args);
  const match = CHECKPOINT_STATE.exec(String(args[0]));
  if (!match) return handle;
  const step = Number(match[1]);
  const nth = ++stateWrites;
  mark(`write-begin ${step}`);
  let chunks = 0;
  const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<unknown>;
  // Chunks are: 8-byte length, JSON header, then one per tensor.
  (handle as { write: unknown }).write = async (...a: unknown[]) => {
    if (++chunks === 3 && nth === pauseAt) {
      mark(`write-paused ${step}`);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
    if (chunks === 3 && nth === failAt) {
      mark(`write-failed ${step}`);
      throw Object.assign(new Error(`${failCode}: injected by the chaos probe, write`), { code: failCode, syscall: 'write' });
    }
    return write(...a);
  };
  const close = handle.close.bind(handle);
  handle.close = async () => {
    mark(`write-end ${step}`);
    return close();
  };
  return handle;
};

const send = process.send!.bind(process);
process.send = ((message: { type?: string; step?: number; resumedFrom?: { step: number; skipped: string[] } | null }, ...rest: unknown[]) => {
  if (message.type === 'step' || message.type === 'checkpoint') mark(`${message.type} ${message.step}`);
  else if (message.type === 'start') mark(`start ${message.resumedFrom?.step ?? 0} ${JSON.stringify(message.resumedFrom?.skipped ?? [])}`);
  else if (message.type === 'done') mark('done');
  return (send as (...a: unknown[]) => boolean)(message, ...rest);
}) as typeof process.send;

mark('ready');
