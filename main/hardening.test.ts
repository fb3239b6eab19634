import { describe, expect, it } from 'vitest';
import { MEDIA_SCHEME } from '../preload/api';
import { electronContentSecurityPolicy, isAppUrl } from './hardening';

// How the session lock-down is applied is tested through the wiring (main/index.test.ts); here the
// development-server exceptions, which that test (a packaged build) does not reach.
describe('Electron policy under the dev server', () => {
  const dev = 'http://localhost:5173/';

  it('allows inline scripts and the HMR socket of that server only under it', () => {
    const packaged = electronContentSecurityPolicy();
    expect(packaged).not.toMatch(/unsafe-inline'[^;]*;\s*connect|ws:/);
    expect(packaged).toMatch(/script-src 'self';/);
    const policy = electronContentSecurityPolicy(dev);
    expect(policy).toMatch(/script-src 'self' 'unsafe-inline';/);
    expect(policy).toMatch(/connect-src 'self' ws:\/\/localhost:5173;/);
    expect(policy).toMatch(new RegExp(`img-src 'self' data: blob: ${MEDIA_SCHEME}:;`));
  });

  it('loads the dev server and nothing else remote', () => {
    expect(isAppUrl('http://localhost:5173/src/main.tsx', '/app/renderer', dev)).toBe(true);
    expect(isAppUrl('ws://localhost:5173/', '/app/renderer', dev)).toBe(true);
    expect(isAppUrl('http://localhost:5174/', '/app/renderer', dev)).toBe(false);
    expect(isAppUrl('https://cdn.example/react.js', '/app/renderer', dev)).toBe(false);
    expect(isAppUrl('http://localhost:5173/src/main.tsx', '/app/renderer')).toBe(false);
    expect(isAppUrl('file:///app/renderer/index.html', '/app/renderer')).toBe(true);
    expect(isAppUrl('file:///app/renderer-evil/index.html', '/app/renderer')).toBe(false);
    expect(isAppUrl('not a url', '/app/renderer', dev)).toBe(false);
  });
});
