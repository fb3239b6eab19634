// The one list of PEFT methods. Adding a method: create methods/<name>/{config,index}.ts and add
// it here; methods.test.ts then runs it through the shared test table.
import { full } from './full';
import { linearProbe } from './linear-probe';
import { lora } from './lora';
import { side } from './side';
import { ssf } from './ssf';
import type { PeftMethod } from './types';
import { vpt } from './vpt';

// Each entry keeps its own options type; the registry hands them out type-erased, and callers
// parse options with parseOptions() before using them.
const METHODS: readonly PeftMethod<object>[] = [linearProbe, full, lora, vpt, ssf, side] as unknown as PeftMethod<object>[];

export function listMethods(): readonly PeftMethod<object>[] {
  return METHODS;
}

export function getMethod(name: string): PeftMethod<object> {
  const method = METHODS.find((m) => m.name === name);
  if (!method) throw new Error(`unknown method "${name}" (methods: ${METHODS.map((m) => m.name).join(', ')})`);
  return method;
}
