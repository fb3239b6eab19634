// Starts the BUILT remote shell (out/main/remote.js) on a data folder, as `npm start` would, and
// reads the URL line it prints. Used by the e2e fixture and by the UI benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface RemoteShellAddress {
  url: string;
  origin: string;
  token: string;
}

// __dirname, not import.meta: Playwright loads this file as CommonJS, tsx and vitest as either.
const repoRoot = path.resolve(__dirname, '..');

/** The child at once (so callers can track and stop it), and its address once it is up. */
export function spawnRemoteShell(home: string): { child: ChildProcess; ready: Promise<RemoteShellAddress> } {
  const child = spawn(process.execPath, [path.join(repoRoot, 'out/main/remote.js')], {
    cwd: repoRoot,
    env: { ...process.env, PEFT_STUDIO_HOME: home, PEFT_STUDIO_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<RemoteShellAddress>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the studio printed no URL in 30 s:\n${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        const url = match[1]!;
        const parsed = new URL(url);
        resolve({ url, origin: parsed.origin, token: parsed.searchParams.get('token')! });
      }
    });
    child.on('exit', (code) => reject(new Error(`the studio exited (${code}) before printing its URL:\n${output}`)));
  });
  return { child, ready };
}
