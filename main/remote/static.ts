import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/**
 * Resolves a URL path to a file inside root, or null: no traversal out of root, no hidden
 * files, no directory listings.
 */
export async function resolveStatic(root: string, urlPath: string): Promise<{ path: string; type: string } | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const relativePath = normalize(decoded).replace(/^([/\\])+/, '');
  if (relativePath.split(/[/\\]/).some((part) => part === '..' || part.startsWith('.'))) return null;
  const path = join(root, relativePath);
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) return null;
  return { path, type: CONTENT_TYPES[extname(path)] ?? 'application/octet-stream' };
}

export const readStatic = (path: string): Promise<Buffer> => readFile(path);

/** Image content types by magic bytes: originals are stored by hash, without an extension. */
export function sniffImageType(head: Uint8Array): string {
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head[0] === 0xff && head[1] === 0xd8) return 'image/jpeg';
  if (head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'image/png';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  if (ascii(0, 4) === 'GIF8') return 'image/gif';
  if (ascii(4, 8) === 'ftyp') return ascii(8, 12).startsWith('avi') ? 'image/avif' : 'image/heic';
  if (ascii(0, 2) === 'II' || ascii(0, 2) === 'MM') return 'image/tiff';
  return 'application/octet-stream';
}
