import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';
import { version } from './package.json';

// Node-side entries are bundled with their dependencies left external (native modules,
// tfjs' wasm files), so the same output runs under Electron and under plain Node.
export default defineConfig({
  main: {
    define: { __APP_VERSION__: JSON.stringify(version) },
    build: {
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'main/index.ts'),
          remote: resolve(__dirname, 'main/remote/start.ts'),
          worker: resolve(__dirname, 'main/worker/index.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      // A sandboxed preload can require only 'electron': bundle everything else (zod) into it.
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve(__dirname, 'preload/index.ts') },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'renderer'),
    build: {
      minify: true,
      // A desktop app loads its bundle from disk: one chunk of ~1 MB is fine.
      chunkSizeWarningLimit: 1500,
      rollupOptions: {
        input: { index: resolve(__dirname, 'renderer/index.html') },
      },
    },
    plugins: [react()],
  },
});
