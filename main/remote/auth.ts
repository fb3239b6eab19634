import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const TOKEN_COOKIE = 'peft_studio_token';

export const newToken = (): string => randomBytes(24).toString('base64url');

/** Constant-time token comparison: hashing first makes the lengths equal, so nothing leaks through timing. */
export function tokenMatches(expected: string, given: string | null | undefined): boolean {
  if (!given) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** The token a request carries: `Authorization: Bearer`, the session cookie, or `?token=`. */
export function requestToken(request: IncomingMessage, url: URL): string | null {
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  return bearer ?? cookieValue(request.headers.cookie, TOKEN_COOKIE) ?? url.searchParams.get('token');
}

/**
 * DNS-rebinding guard: a page on evil.example that resolves to 127.0.0.1 still sends its own
 * Host header, so only the names we were opened under are accepted.
 */
export function hostAllowed(hostHeader: string | undefined, port: number, extraHosts: readonly string[]): boolean {
  if (!hostHeader) return false;
  const allowed = ['127.0.0.1', 'localhost', '[::1]', ...extraHosts].map((host) => `${host}:${port}`);
  return allowed.includes(hostHeader.toLowerCase());
}

/** Cross-site requests carry a foreign Origin; same-origin ones carry ours or none. */
export function originAllowed(originHeader: string | undefined, hostHeader: string | undefined): boolean {
  if (!originHeader) return true;
  try {
    return new URL(originHeader).host === hostHeader?.toLowerCase();
  } catch {
    return false;
  }
}
