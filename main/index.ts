import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, net, protocol, session, shell } from 'electron';
import { IPC_EVENT, IPC_INVOKE, isContentHash, MEDIA_SCHEME, type MediaKind } from '../preload/api';
import { hardenSession } from './hardening';
import { serveRemote } from './remote/serve';
import { defaultDataDir } from './services/paths';
import { createStudio, createStudioDispatch } from './studio';
import { isTrustedSender } from './trusted-sender';
import { createMainWindow } from './window';

// The one place where the Electron shell is wired: store + services, IPC, media protocol, window.

protocol.registerSchemesAsPrivileged([{ scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

const rendererIndex = join(__dirname, '../renderer/index.html');
const rendererUrl = process.env.ELECTRON_RENDERER_URL ?? pathToFileURL(rendererIndex).href;


async function start() {
  await app.whenReady();
  // Permissions denied, the CSP on every response, nothing loaded that is not the app's own.
  hardenSession(session.defaultSession, { rendererDir: join(__dirname, '../renderer'), devServerUrl: process.env.ELECTRON_RENDERER_URL });

  const studio = createStudio({
    dataDir: defaultDataDir(),
    worker: { modulePath: join(__dirname, 'worker.js'), execArgv: [] },
    shell: 'electron',
    version: app.getVersion(),
    pickFolder: async () => {
      const result = await dialog.showOpenDialog({ properties: ['openDirectory'] });
      return result.canceled ? null : (result.filePaths[0] ?? null);
    },
    openPath: (path) => shell.openPath(path),
    builtInModelsDir: join(__dirname, '../../resources/models'),
  });
  const dispatch = createStudioDispatch(studio);

  ipcMain.handle(IPC_INVOKE, async (event, channel: unknown, input: unknown) => {
    if (!isTrustedSender(event.senderFrame, rendererUrl)) {
      return { ok: false, error: { code: 'unavailable', message: 'Calls are accepted from the studio window only.' } };
    }
    return dispatch(String(channel), input);
  });
  studio.events.subscribe((event, payload) => {
    for (const window of BrowserWindow.getAllWindows()) window.webContents.send(IPC_EVENT, event, payload);
  });
  protocol.handle(MEDIA_SCHEME, (request) => {
    const url = new URL(request.url);
    const [, kind, hash] = url.pathname.split('/');
    if (url.host !== 'media' || (kind !== 'thumb' && kind !== 'image') || !isContentHash(hash ?? '')) {
      return new Response('not found', { status: 404 });
    }
    return net.fetch(pathToFileURL(studio.media.pathOf(kind as MediaKind, hash)).href);
  });

  const remote = await serveRemote(studio, join(__dirname, '../renderer'));
  const open = () =>
    createMainWindow(join(__dirname, '../preload/index.js'), (window) =>
      process.env.ELECTRON_RENDERER_URL ? window.loadURL(rendererUrl) : window.loadFile(rendererIndex),
    );
  open();
  app.on('activate', () => BrowserWindow.getAllWindows().length === 0 && open());
  app.on('window-all-closed', () => process.platform !== 'darwin' && app.quit());
  app.on('will-quit', (event) => {
    event.preventDefault();
    void Promise.all([remote.close(), studio.close()]).finally(() => app.exit(0));
  });
}

start().catch((error: unknown) => {
  dialog.showErrorBox('PEFT Studio could not start', error instanceof Error ? error.message : String(error));
  app.exit(1);
});
