// The installed entry point (bin/peft-studio.mjs) as a user runs it, in a child process, which
// is also the only way to see PEFT_STUDIO_BACKEND act (the backend is chosen once per process).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'peft-studio.mjs');
const MODEL = path.join(ROOT, 'test', 'fixtures', 'vit', 'hf_gelu_rgb');
const tmp = mkdtempSync(path.join(tmpdir(), 'cli-bin-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function peftStudio(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: tmp });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bin/peft-studio.mjs', () => {
  const data = path.join(tmp, 'data');
  beforeAll(async () => {
    for (const [cls, shade] of [
      ['class_0', 20],
      ['class_3', 200],
    ] as const) {
      mkdirSync(path.join(data, cls), { recursive: true });
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: shade, g: 90, b: 250 - shade } } })
        .png()
        .toFile(path.join(data, cls, 'a.png'));
    }
  });

  it('runs eval through tsx without a build, on the backend PEFT_STUDIO_BACKEND forces', async () => {
    const r = await peftStudio(['eval', '--model', MODEL, '--data', data, '--json'], { PEFT_STUDIO_BACKEND: 'cpu' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { n: number; backend: string; backend_reason: string; confusion: number[][] };
    expect(out.n).toBe(2);
    expect(out.backend).toBe('cpu');
    expect(out.backend_reason).toBe('cpu: forced by PEFT_STUDIO_BACKEND');
    expect(out.confusion).toHaveLength(5);
    expect(out.confusion[0]!.reduce((a, b) => a + b, 0)).toBe(1);
    expect(out.confusion[3]!.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('an unknown PEFT_STUDIO_BACKEND is one line on stderr and exit 1', async () => {
    const r = await peftStudio(['eval', '--model', MODEL, '--data', data], { PEFT_STUDIO_BACKEND: 'tpu' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^peft-studio eval: PEFT_STUDIO_BACKEND=tpu is not one of tfjs-node-gpu, gpu, tfjs-node, tensorflow, node, wasm, cpu\n$/);
  });
});
