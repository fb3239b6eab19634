import { pathToFileURL } from 'node:url';
import type { Session } from 'electron';
import { MEDIA_SCHEME } from '../preload/api';
import { CONTENT_SECURITY_POLICY } from './remote/server';

/**
 * The Electron window's policy: the remote shell's, plus the media scheme for images. Under the
 * dev server (electron-vite dev) the React refresh preamble is an inline script and HMR talks over
 * a WebSocket to that server, so those two are allowed there and only there.
 */
export function electronContentSecurityPolicy(devServerUrl?: string): string {
  const policy = CONTENT_SECURITY_POLICY.replace("img-src 'self' data: blob:", `img-src 'self' data: blob: ${MEDIA_SCHEME}:`);
  if (!devServerUrl) return policy;
  const ws = new URL(devServerUrl);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return policy.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace("connect-src 'self'", `connect-src 'self' ${ws.origin}`);
}

/**
 * Whether the studio window may load this URL: only the app's own files (the renderer folder),
 * its media scheme, inline data/blob URLs and, in development, the dev server. Everything else —
 * any http(s) page, script or image, any other local file — is remote or foreign content.
 */
export function isAppUrl(url: string, rendererDir: string, devServerUrl?: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:') || url.startsWith(`${MEDIA_SCHEME}:`) || url.startsWith('devtools:')) return true;
  if (url.startsWith(`${pathToFileURL(rendererDir).href}/`)) return !/%2e%2e|\/\.\.\//i.test(url);
  if (!devServerUrl) return false;
  try {
    const target = new URL(url);
    const dev = new URL(devServerUrl);
    return target.hostname === dev.hostname && target.port === dev.port;
  } catch {
    return false;
  }
}

/**
 * Locks the studio's session down: every permission request and check is refused (camera,
 * notifications, geolocation, …: the studio needs none), every response carries the CSP, and any
 * request for something that is not the app's own is cancelled before it leaves.
 */
export function hardenSession(session: Session, options: { rendererDir: string; devServerUrl?: string }): void {
  const policy = electronContentSecurityPolicy(options.devServerUrl);
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onBeforeRequest((details, callback) => callback({ cancel: !isAppUrl(details.url, options.rendererDir, options.devServerUrl) }));
  session.webRequest.onHeadersReceived((details, callback) => {
    // Replace any policy a response brought (header names are case-insensitive) with ours.
    const headers = Object.fromEntries(Object.entries(details.responseHeaders ?? {}).filter(([name]) => name.toLowerCase() !== 'content-security-policy'));
    callback({ responseHeaders: { ...headers, 'Content-Security-Policy': [policy] } });
  });
}
