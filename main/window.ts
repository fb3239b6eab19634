import { BrowserWindow, type WebPreferences } from 'electron';

/** The renderer gets no Node, an isolated world, and the OS sandbox: it can only call window.studio. */
export function secureWebPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    spellcheck: false,
  };
}

/** Opens the studio window; it may show only the studio's own page, never navigate or open others. */
export function createMainWindow(preloadPath: string, load: (window: BrowserWindow) => Promise<void>): BrowserWindow {
  const window = new BrowserWindow({
    width: 1360,
    height: 860,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'PEFT Studio',
    backgroundColor: '#14161a',
    webPreferences: secureWebPreferences(preloadPath),
  });
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  window.webContents.on('will-navigate', (event) => event.preventDefault());
  window.webContents.on('will-redirect', (event) => event.preventDefault());
  window.webContents.on('will-attach-webview', (event) => event.preventDefault());
  window.once('ready-to-show', () => window.show());
  void load(window);
  return window;
}
