import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

const nodeBuiltins = ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'http', 'net', 'url', 'worker_threads'];

// Folders are runtimes and roles; these rules make their imports prove it.
export default tseslint.config(
  { ignores: ['out/**', 'node_modules/**', 'test-results/**', 'playwright-report/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{mjs,js}', 'scripts/**', 'bench/**', 'bin/**', 'e2e/**', 'main/**', '*.config.*'],
    languageOptions: { globals: globals.node },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', 'better-sqlite3'], message: 'main/engine knows tensors and files only.' },
            { group: ['**/store', '**/store/**', '**/services/**', '**/remote/**', '**/preload/**', '**/worker/**'], message: 'main/engine imports no store, services, IPC or shell code.' },
          ],
        },
      ],
    },
  },
  {
    files: ['main/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['electron', '**/engine/**', '**/services/**', '**/remote/**'], message: 'main/store knows SQL only.' }] },
      ],
    },
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.filter((n) => !n.includes('*')).map((name) => ({ name, message: 'The renderer runs in a browser: no Node.' })),
          patterns: [
            { group: ['node:*'], message: 'The renderer runs in a browser: no Node.' },
            { group: ['electron'], message: 'The renderer reaches main only through lib/studio.ts.' },
            { group: ['**/main/**'], message: 'The renderer reaches main only through preload/api.ts and lib/studio.ts.' },
          ],
        },
      ],
    },
  },
  {
    files: ['preload/api.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['*', '!zod'], message: 'preload/api.ts is the plain contract: it imports zod only.' }] },
      ],
    },
  },
  {
    // Raw IPC only in the two wrapper files.
    files: ['**/*.{ts,tsx}'],
    ignores: ['main/index.ts', 'preload/index.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "Identifier[name='ipcMain']", message: 'Use the studio API (main/index.ts wires IPC).' },
        { selector: "Identifier[name='ipcRenderer']", message: 'Use window.studio (preload/index.ts).' },
      ],
    },
  },
);
