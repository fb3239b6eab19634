// The one list of PEFT methods. Adding a method: create methods/<name>/{config,index}.ts and add
// it here; methods.test.ts then runs it through the shared test table.
import { full } from './full';
import { linearProbe } from './linear-probe';
import { lora } from './lora';
import { patchOf } from './patch';
import { sara } from './sara';
import { side } from './side';
import { ssf } from './ssf';
import type { PeftMethod } from './types';
import { vpt } from './vpt';

// Each entry keeps its own options type; the registry hands them out type-erased, and callers
// parse options with parseOptions() before using them.
const BASES = [linearProbe, full, lora, vpt, ssf, side, sara] as unknown as PeftMethod<object>[];
// Patch-based training (SINE) combines with every other method: one `patch-<name>` per base.
const METHODS: readonly PeftMethod<object>[] = [...BASES, ...BASES.map((m) => patchOf(m))];

export function listMethods(): readonly PeftMethod<object>[] {
  return METHODS;
}

export function getMethod(name: string): PeftMethod<object> {
  const method = METHODS.find((m) => m.name === name);
  if (!method) throw new Error(`unknown method "${name}" (methods: ${METHODS.map((m) => m.name).join(', ')})`);
  return method;
}
