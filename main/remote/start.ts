import { join } from 'node:path';
import { createStudio } from '../studio';
import { defaultDataDir } from '../services/paths';
import { serveRemote } from './serve';

declare const __APP_VERSION__: string | undefined;

/** Entry of the headless/remote shell: `node out/main/remote.js`. */
async function main() {
  const studio = createStudio({
    dataDir: defaultDataDir(),
    worker: { modulePath: join(__dirname, 'worker.js'), execArgv: [] },
    shell: 'remote',
    version: typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : 'dev',
    builtInModelsDir: join(__dirname, '../../resources/models'),
  });
  const server = await serveRemote(studio, join(__dirname, '../renderer'));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await studio.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`PEFT Studio could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
