#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx peft-studio` works after `npm ci` without a build.
// The project's .ts files are CommonJS to Node (package.json has no "type": "module"), so tsx's
// require() hook is the one to register; tsx/esm/api's register() does not hook require(), and
// its tsImport() loads a second copy of tfjs-core ("Platform node has already been set").
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
const { runCli } = createRequire(import.meta.url)('../main/cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
