import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { inputSchemas, IPC_INVOKE, MEDIA_SCHEME } from '../preload/api';

// The Electron shell's wiring (main/index.ts) with Electron mocked — it cannot run on these
// machines: what it registers with the session, ipcMain and protocol is captured and exercised.
type Listener = (...args: never[]) => unknown;
const wired = vi.hoisted(() => ({
  app: {} as Record<string, Listener>,
  ipc: {} as Record<string, Listener>,
  protocols: {} as Record<string, (request: { url: string }) => Promise<Response> | Response>,
  session: {} as Record<string, Listener>,
  exited: undefined as number | undefined,
  fetched: [] as string[],
}));

vi.mock('electron', () => {
  class BrowserWindow {
    static getAllWindows = () => [];
    webContents = { setWindowOpenHandler: () => undefined, on: () => undefined, send: () => undefined };
    once() {}
    loadFile = async () => undefined;
    loadURL = async () => undefined;
  }
  const record = (name: string) => (fn: Listener) => void (wired.session[name] = fn);
  return {
    app: {
      whenReady: async () => undefined,
      getVersion: () => '0.0.0-test',
      on: (name: string, fn: Listener) => void (wired.app[name] = fn),
      exit: (code: number) => void (wired.exited = code),
      quit: () => undefined,
    },
    BrowserWindow,
    dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }), showErrorBox: () => undefined },
    // eslint-disable-next-line no-restricted-syntax -- the fake of Electron's IPC that main/index.ts registers on
    ipcMain: { handle: (channel: string, fn: Listener) => void (wired.ipc[channel] = fn) },
    net: { fetch: async (url: string) => (wired.fetched.push(url), new Response('file')) },
    protocol: {
      registerSchemesAsPrivileged: () => undefined,
      handle: (scheme: string, fn: (request: { url: string }) => Response) => void (wired.protocols[scheme] = fn),
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: record('permissionRequest'),
        setPermissionCheckHandler: record('permissionCheck'),
        webRequest: { onBeforeRequest: record('beforeRequest'), onHeadersReceived: record('headersReceived') },
      },
    },
    shell: { openPath: async () => '' },
  };
});
vi.mock('./remote/serve', () => ({ serveRemote: async () => ({ close: async () => undefined }) }));

const home = mkdtempSync(join(tmpdir(), 'studio-electron-'));
// out/main/index.js loads ../renderer/index.html: here __dirname of main/index.ts stands in for out/main.
const rendererDir = join(__dirname, '../renderer');
const page = pathToFileURL(join(rendererDir, 'index.html')).href;

beforeAll(async () => {
  process.env.PEFT_STUDIO_HOME = home;
  await import('./index');
  for (let waited = 0; !wired.ipc[IPC_INVOKE] && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
});

afterAll(async () => {
  wired.app['will-quit']?.({ preventDefault: () => undefined } as never);
  for (let waited = 0; wired.exited === undefined && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  delete process.env.PEFT_STUDIO_HOME;
  rmSync(home, { recursive: true, force: true });
});

const invoke = (frame: { url: string; parent: unknown } | null, channel: unknown, input: unknown) =>
  wired.ipc[IPC_INVOKE]!({ senderFrame: frame } as never, channel as never, input as never) as Promise<{ ok: boolean; error?: { code: string; message: string } }>;
const studioFrame = { url: `${page}#/datasets`, parent: null };

describe('Electron shell wiring (main/index.ts)', () => {
  it('denies every permission request and check', () => {
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fullscreen']) {
      const callback = vi.fn();
      wired.session.permissionRequest!({} as never, permission as never, callback as never);
      expect(callback, permission).toHaveBeenCalledWith(false);
      expect(wired.session.permissionCheck!({} as never, permission as never), permission).toBe(false);
    }
  });

  it('puts a strict Content-Security-Policy on every response, replacing one it brought', () => {
    const callback = vi.fn();
    wired.session.headersReceived!({ url: page, responseHeaders: { 'content-security-policy': ['default-src *'], 'x-other': ['1'] } } as never, callback as never);
    const { responseHeaders } = callback.mock.calls[0]![0] as { responseHeaders: Record<string, string[]> };
    expect(Object.keys(responseHeaders).filter((name) => name.toLowerCase() === 'content-security-policy')).toEqual(['Content-Security-Policy']);
    const [policy] = responseHeaders['Content-Security-Policy']!;
    expect(policy).toMatch(/default-src 'self'/);
    expect(policy).toMatch(/script-src 'self';/);
    expect(policy).not.toMatch(/unsafe-eval|unsafe-inline'; connect|\*/);
    expect(policy).toMatch(/object-src 'none'/);
    expect(policy).toMatch(/frame-ancestors 'none'/);
    expect(policy).toMatch(new RegExp(`img-src [^;]*${MEDIA_SCHEME}:`));
    expect(responseHeaders['x-other']).toEqual(['1']);
  });

  it('loads only the app: remote URLs and other local files are cancelled, its own files and media pass', () => {
    const cancelled = (url: string) => {
      const callback = vi.fn();
      wired.session.beforeRequest!({ url } as never, callback as never);
      return (callback.mock.calls[0]![0] as { cancel: boolean }).cancel;
    };
    for (const url of ['https://evil.example/x.js', 'http://127.0.0.1:8080/', 'ws://evil.example/', 'file:///etc/passwd', pathToFileURL(join(home, 'studio.db')).href, 'ftp://x/']) {
      expect(cancelled(url), url).toBe(true);
    }
    for (const url of [page, pathToFileURL(join(rendererDir, 'assets/index.js')).href, `${MEDIA_SCHEME}://media/thumb/${'a'.repeat(64)}`, 'data:image/png;base64,AA==']) {
      expect(cancelled(url), url).toBe(false);
    }
  });

  it('answers IPC only from the studio page, and validates every channel with its schema before any service runs', async () => {
    expect(await invoke({ url: 'https://evil.example/', parent: null }, 'datasets.list', {})).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await invoke({ ...studioFrame, parent: {} }, 'datasets.list', {})).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await invoke(null, 'datasets.list', {})).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await invoke(studioFrame, 'datasets.list', {})).toEqual({ ok: true, value: [] });
    expect(await invoke(studioFrame, 'fs.readFile', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'validation', message: /Unknown API call/ } });

    const channels = Object.keys(inputSchemas);
    expect(channels.length).toBeGreaterThan(20);
    for (const channel of channels) {
      // Not an object, and an object with a key no schema has (every schema is strict).
      for (const input of ['x', { injected: true }]) {
        const answer = await invoke(studioFrame, channel, input);
        expect(answer, `${channel} ${JSON.stringify(input)}`).toMatchObject({ ok: false, error: { code: 'validation', message: expect.stringContaining(`Invalid input for ${channel}`) } });
      }
    }
  });

  it('serves media only for a well-formed kind and content hash, from the data folder', async () => {
    const serve = (url: string) => wired.protocols[MEDIA_SCHEME]!({ url });
    for (const url of [
      `${MEDIA_SCHEME}://media/thumb/../../studio.db`,
      `${MEDIA_SCHEME}://media/thumb/${'g'.repeat(64)}`,
      `${MEDIA_SCHEME}://media/other/${'a'.repeat(64)}`,
      `${MEDIA_SCHEME}://elsewhere/image/${'a'.repeat(64)}`,
    ]) {
      expect((await serve(url)).status, url).toBe(404);
    }
    expect(wired.fetched).toEqual([]);
    await serve(`${MEDIA_SCHEME}://media/image/${'a'.repeat(64)}`);
    expect(wired.fetched).toEqual([pathToFileURL(join(home, 'media', 'aa', 'a'.repeat(64))).href]);
  });
});
