#!/usr/bin/env node
// `npm start`: build if the sources changed since the last build, then launch the Electron
// shell; where no Electron binary can be had, say so in one line and start the remote shell.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outputs = ['out/main/index.js', 'out/main/remote.js', 'out/preload/index.js', 'out/renderer/index.html'].map((p) => join(root, p));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (!entry.name.includes('.test.')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  if (!outputs.every((path) => existsSync(path))) return true;
  const built = Math.min(...outputs.map((path) => statSync(path).mtimeMs));
  const sources = ['main', 'preload', 'renderer'].map((dir) => newestSource(join(root, dir)));
  const configs = ['package.json', 'electron.vite.config.ts'].map((file) => statSync(join(root, file)).mtimeMs);
  return Math.max(...sources, ...configs) > built;
}

/**
 * The Electron binary's path, or why there is none. Resolving the `electron` package downloads
 * the binary on first use; that runs in a child whose output is kept, so a machine that cannot
 * download it gets one line from us instead of the downloader's stack trace.
 */
function electronBinary() {
  let entry;
  try {
    entry = createRequire(import.meta.url).resolve('electron');
  } catch {
    return { why: 'the electron package is not installed' };
  }
  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(entry)}))`], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  const path = probe.status === 0 ? probe.stdout.trim() : '';
  if (path && existsSync(path)) return { path };
  const detail = (probe.stderr || '').split('\n').find((line) => /^\w*Error: /.test(line))?.replace(/^\w*Error: /, '').trim();
  return { why: `its binary could not be downloaded${detail ? `: ${detail}` : ''}` };
}

if (needsBuild()) {
  console.log('Building PEFT Studio…');
  const build = spawnSync(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status !== 0) {
    console.error('The build failed (see above).');
    process.exit(build.status ?? 1);
  }
}

let command = process.execPath;
let args = [join(root, 'out/main/remote.js')];
if (process.env.PEFT_STUDIO_SHELL !== 'remote') {
  const electron = electronBinary();
  if (electron.path) {
    command = electron.path;
    args = [root];
  } else {
    console.log(`Electron is not available here (${electron.why}); starting the remote shell instead.`);
  }
}

const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
