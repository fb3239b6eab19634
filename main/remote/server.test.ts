import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { tempStudio } from '../../test/studio';
import { digitPng } from '../../test/digits';
import { startRemoteServer, type RemoteServer } from './server';

const TOKEN = 'test-token-0123456789';

function rendererFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'studio-renderer-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>PEFT Studio</title>');
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, '.secret'), 'hidden');
  return dir;
}

/** Raw HTTP, so Host and Origin headers can be forged the way a hostile page would. */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('remote shell server', () => {
  let server: RemoteServer | undefined;
  let current: ReturnType<typeof tempStudio> | undefined;
  afterEach(async () => {
    await server?.close();
    await current?.studio.close();
  });

  async function start(runFile?: Parameters<typeof startRemoteServer>[0]['runFile']) {
    current = tempStudio();
    server = await startRemoteServer({
      runFile,
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      rendererDir: rendererFixture(),
      dispatch: current.dispatch,
      events: current.studio.events,
      media: current.studio.media,
    });
    return server.port;
  }
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('answers 401 to every request without the token, and serves it with the token', async () => {
    const port = await start();
    expect(server!.url).toBe(`http://127.0.0.1:${port}/?token=${TOKEN}`);
    for (const path of ['/', '/assets/app.js', '/media/thumb/' + 'a'.repeat(64)]) {
      expect((await get(port, path)).status).toBe(401);
    }
    expect((await get(port, '/api/datasets.list', {}, 'POST', '{}')).status).toBe(401);
    expect((await get(port, '/', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(port, '/?token=wrong')).status).toBe(401);

    const page = await get(port, `/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('PEFT Studio');
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    const cookie = String(page.headers['set-cookie']);
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/);
    // The cookie alone authorises later requests (assets, API, media).
    const api = await get(port, '/api/datasets.list', { cookie: cookie.split(';')[0] }, 'POST', '{}');
    expect(api.status).toBe(200);
    expect(JSON.parse(api.body)).toEqual({ ok: true, value: [] });
  });

  it('refuses forged Host (DNS rebinding) and cross-origin requests', async () => {
    const port = await start();
    expect((await get(port, '/', { ...auth, host: `evil.example:${port}` })).status).toBe(403);
    expect((await get(port, '/api/datasets.list', { ...auth, origin: 'http://evil.example' }, 'POST', '{}')).status).toBe(403);
    expect((await get(port, '/api/datasets.list', { ...auth, origin: `http://127.0.0.1:${port}` }, 'POST', '{}')).status).toBe(200);
    expect((await get(port, '/', { ...auth, host: `localhost:${port}` })).status).toBe(200);
  });

  it('never lists folders nor serves files outside the renderer', async () => {
    const port = await start();
    for (const path of ['/assets/', '/assets', '/../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/.secret', '/assets/%00x', '/media/image/../../studio.db']) {
      expect((await get(port, path, auth)).status, path).toBe(404);
    }
    expect((await get(port, '/assets/app.js', auth)).headers['content-type']).toMatch(/javascript/);
  });

  it('returns typed errors with HTTP statuses and serves media by hash', async () => {
    const port = await start();
    const bad = await get(port, '/api/datasets.create', auth, 'POST', '{"name":""}');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ ok: false, error: { code: 'validation' } });
    expect((await get(port, '/api/datasets.create', auth, 'POST', '{not json')).status).toBe(400);

    const { studio } = current!;
    const png = await digitPng(8, 0);
    const { datasetId } = { datasetId: studio.datasets.create('m').id };
    await studio.imports.start(datasetId, { kind: 'upload', files: [{ name: 'a.png', folder: '', base64: png.toString('base64') }] });
    await studio.imports.idle();
    const [item] = studio.datasets.images(datasetId, {}, 0, 1).items;
    const original = await get(port, `/media/image/${item.hash}`, auth);
    expect(original.status).toBe(200);
    expect(original.headers['content-type']).toBe('image/png');
    expect((await get(port, `/media/thumb/${item.hash}`, auth)).headers['content-type']).toBe('image/webp');
  });

  it('streams events over a WebSocket that requires the token', async () => {
    const port = await start();
    const refused = new WebSocket(`ws://127.0.0.1:${port}/events`);
    const status = await new Promise<number>((resolve) => refused.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(401);

    const socket = new WebSocket(`ws://127.0.0.1:${port}/events`, { headers: auth });
    await new Promise((resolve) => socket.on('open', resolve));
    const received = new Promise<unknown>((resolve) => socket.on('message', (data) => resolve(JSON.parse(String(data)))));
    current!.studio.events.emit('datasets.changed', { datasetId: 42 });
    expect(await received).toEqual({ event: 'datasets.changed', payload: { datasetId: 42 } });
    socket.close();
  });

  it('serves a run export file for download by run id, item and listed name only, with the token', async () => {
    const asked: string[] = [];
    const port = await start(async (id, item, name) => {
      asked.push(`${id}/${item}/${name}`);
      return id === 3 && item === 'adapter' && name === 'adapter_config.json' ? Buffer.from('{"peft_type":"LORA"}') : undefined;
    });
    const ok = await get(port, '/runs/3/files/adapter/adapter_config.json', auth);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-disposition']).toBe('attachment; filename="adapter_config.json"');
    expect(ok.headers['content-type']).toBe('application/json');
    expect(ok.body).toBe('{"peft_type":"LORA"}');
    expect((await get(port, '/runs/3/files/adapter/adapter_config.json')).status).toBe(401);
    expect((await get(port, '/runs/3/files/adapter/other.json', auth)).status).toBe(404);
    // An unknown item is refused here; a name reaches the service only to be checked against the run folder's listing.
    expect((await get(port, '/runs/3/files/secrets/adapter_config.json', auth)).status).toBe(404);
    expect((await get(port, '/runs/3/files/adapter/..%2F..%2Fstudio.db', auth)).status).toBe(404);
    expect(asked).toEqual(['3/adapter/adapter_config.json', '3/adapter/other.json', '3/adapter/../../studio.db']);
  });
});
