import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from 'node:fs/promises';
import { WebSocketServer, type WebSocket } from 'ws';
import { isContentHash, type MediaKind, type RunExportItem, type StudioErrorCode } from '../../preload/api';
import type { Dispatch } from '../services/api';
import type { EventBus } from '../services/events';
import type { MediaStore } from '../services/media';
import { hostAllowed, originAllowed, requestToken, TOKEN_COOKIE, tokenMatches } from './auth';
import { readStatic, resolveStatic, sniffImageType } from './static';

export interface RemoteServerOptions {
  host: string;
  port: number;
  token: string;
  /** The built renderer (index.html + assets). */
  rendererDir: string;
  dispatch: Dispatch;
  events: EventBus;
  media: MediaStore;
  /** A run's exportable file by run id, item and listed name (see run-export.ts); undefined when none. */
  runFile?: (id: number, item: RunExportItem, name: string) => Promise<Buffer | undefined>;
}

export interface RemoteServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Largest JSON body accepted: a chunk of dropped files, base64-encoded. */
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const STATUS_OF: Record<StudioErrorCode, number> = {
  validation: 400,
  not_found: 404,
  conflict: 409,
  io: 500,
  unavailable: 503,
  internal: 500,
};

function send(response: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}) {
  response.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    ...extra,
  });
  response.end(body);
}

const sendText = (response: ServerResponse, status: number, text: string) =>
  send(response, status, `${text}\n`, 'text/plain; charset=utf-8');

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The remote shell: the studio API over HTTP (calls) and WebSocket (events), plus the built
 * renderer and the media files, on 127.0.0.1 by default. Every request needs the per-start
 * token; opening `/?token=…` once stores it in an HttpOnly same-site cookie.
 */
export async function startRemoteServer(options: RemoteServerOptions): Promise<RemoteServer> {
  const { dispatch, events, media, token, rendererDir } = options;
  let port = options.port;
  const extraHosts = ['127.0.0.1', 'localhost', '::1'].includes(options.host) ? [] : [options.host];

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://studio.invalid');
    if (!hostAllowed(request.headers.host, port, extraHosts)) return sendText(response, 403, '403: unexpected Host header');
    if (!originAllowed(request.headers.origin, request.headers.host)) return sendText(response, 403, '403: cross-origin request refused');
    const given = requestToken(request, url);
    if (!tokenMatches(token, given)) {
      return sendText(response, 401, '401: open the studio with the URL it printed (a token is required)');
    }

    if (request.method === 'POST' && url.pathname.startsWith('/api/')) {
      let input: unknown;
      try {
        input = JSON.parse((await readBody(request)) || '{}');
      } catch (error) {
        const body = { ok: false, error: { code: 'validation', message: `The request body is not valid JSON (${(error as Error).message}).` } };
        return send(response, 400, JSON.stringify(body), 'application/json');
      }
      const envelope = await dispatch(decodeURIComponent(url.pathname.slice('/api/'.length)), input);
      const status = envelope.ok ? 200 : STATUS_OF[envelope.error.code];
      return send(response, status, JSON.stringify(envelope), 'application/json');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendText(response, 405, '405: method not allowed');

    const mediaMatch = /^\/media\/(thumb|image)\/([^/]+)$/.exec(url.pathname);
    if (mediaMatch) {
      const [, kind, hash] = mediaMatch;
      if (!isContentHash(hash)) return sendText(response, 404, '404: not found');
      const handleFile = await open(media.pathOf(kind as MediaKind, hash), 'r').catch(() => null);
      if (!handleFile) return sendText(response, 404, '404: not found');
      try {
        const bytes = await handleFile.readFile();
        const type = kind === 'thumb' ? 'image/webp' : sniffImageType(bytes.subarray(0, 16));
        // Content-addressed: the bytes behind a hash never change.
        return send(response, 200, bytes, type, { 'cache-control': 'private, max-age=31536000, immutable' });
      } finally {
        await handleFile.close();
      }
    }

    // Downloads of a run's export (the browser has no folder dialog): id, item and a name the
    // service checks against the run folder's own listing.
    const runFileMatch = /^\/runs\/(\d{1,12})\/files\/(adapter|model|metrics|config)\/([^/]{1,200})$/.exec(url.pathname);
    if (runFileMatch && options.runFile) {
      const [, id, item, encoded] = runFileMatch;
      let name: string;
      try {
        name = decodeURIComponent(encoded!);
      } catch {
        return sendText(response, 404, '404: not found');
      }
      const bytes = await options.runFile(Number(id), item as RunExportItem, name);
      if (!bytes) return sendText(response, 404, '404: not found');
      const type = name.endsWith('.json') ? 'application/json' : name.endsWith('.csv') ? 'text/csv; charset=utf-8' : 'application/octet-stream';
      return send(response, 200, bytes, type, { 'content-disposition': `attachment; filename="${name.replace(/[^A-Za-z0-9_.-]/g, '_')}"` });
    }

    const isPage = url.pathname === '/' || url.pathname === '/index.html';
    const file = await resolveStatic(rendererDir, isPage ? 'index.html' : url.pathname);
    if (!file) return sendText(response, 404, '404: not found');
    const headers: Record<string, string> = {};
    if (isPage) {
      headers['content-security-policy'] = CONTENT_SECURITY_POLICY;
      headers['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
    }
    return send(response, 200, await readStatic(file.path), file.type, headers);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      console.error(error);
      if (!response.headersSent) sendText(response, 500, '500: internal error');
      else response.destroy();
    });
  });

  const sockets = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Set<WebSocket>();
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://studio.invalid');
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/events') return refuse('404 Not Found');
    if (!hostAllowed(request.headers.host, port, extraHosts) || !originAllowed(request.headers.origin, request.headers.host)) {
      return refuse('403 Forbidden');
    }
    if (!tokenMatches(token, requestToken(request, url))) return refuse('401 Unauthorized');
    sockets.handleUpgrade(request, socket, head, (client) => {
      clients.add(client);
      client.on('close', () => clients.delete(client));
    });
  });
  const unsubscribe = events.subscribe((event, payload) => {
    const message = JSON.stringify({ event, payload });
    for (const client of clients) client.send(message);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    url: `http://${hostForUrl}:${port}/?token=${token}`,
    port,
    close: async () => {
      unsubscribe();
      for (const client of clients) client.terminate();
      sockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
