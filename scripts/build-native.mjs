#!/usr/bin/env node
// npm's postinstall: builds the optional native/blas addon (matrix products on the system BLAS,
// issue #8) with the node-gyp that npm ships. It only needs a C compiler: the BLAS library is
// opened at run time. A failed build is reported in one line and never fails the install: the
// engine then keeps wasm's own matrix kernels.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const addonDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'native', 'blas');

/** npm sets npm_config_node_gyp for lifecycle scripts; otherwise look beside npm itself. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    process.env.npm_execpath && join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file && existsSync(file));
}

const gyp = nodeGyp();
if (!gyp) {
  console.log("native/blas: not built (npm's node-gyp not found); the engine keeps wasm's matrix kernels");
} else {
  // Node's own headers where the install ships them (Debian, official tarballs): no download needed.
  const prefix = dirname(dirname(process.execPath));
  const headers = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
  const result = spawnSync(process.execPath, [gyp, 'rebuild', ...headers], { cwd: addonDir, encoding: 'utf8' });
  if (result.status === 0) {
    console.log('native/blas: built (matrix products on the system BLAS where one is installed)');
  } else {
    const lines = `${result.stderr ?? ''}${result.stdout ?? ''}`.split('\n').filter((line) => /error/i.test(line));
    console.log(`native/blas: not built (${lines[0]?.trim() ?? `node-gyp exited ${String(result.status)}`}); the engine keeps wasm's matrix kernels`);
  }
}
