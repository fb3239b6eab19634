import { describe, expect, it, vi } from 'vitest';

// Electron cannot run on these machines: a recording fake stands in for BrowserWindow.
const handlers: Record<string, (event: { preventDefault: () => void }) => void> = {};
let openHandler: (() => { action: string }) | undefined;
let constructed: { webPreferences: Record<string, unknown> } | undefined;
vi.mock('electron', () => ({
  BrowserWindow: class {
    webContents = {
      setWindowOpenHandler: (fn: () => { action: string }) => (openHandler = fn),
      on: (name: string, fn: (event: { preventDefault: () => void }) => void) => (handlers[name] = fn),
    };
    constructor(options: { webPreferences: Record<string, unknown> }) {
      constructed = options;
    }
    once() {}
  },
}));

const { createMainWindow } = await import('./window');

describe('studio window', () => {
  it('isolates and sandboxes the renderer, without Node', () => {
    createMainWindow('/app/preload.js', async () => undefined);
    expect(constructed?.webPreferences).toMatchObject({
      preload: '/app/preload.js',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    });
  });

  it('blocks new windows, navigation, redirects and webviews', () => {
    createMainWindow('/app/preload.js', async () => undefined);
    expect(openHandler?.()).toEqual({ action: 'deny' });
    for (const name of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const preventDefault = vi.fn();
      handlers[name]({ preventDefault });
      expect(preventDefault, name).toHaveBeenCalled();
    }
  });
});
