import { describe, expect, it } from 'vitest';
import { isTrustedSender } from './trusted-sender';

const page = 'file:///opt/PEFT Studio/resources/app/out/renderer/index.html';

describe('trusted IPC sender', () => {
  it("accepts the studio's own top-level page, with any hash route", () => {
    expect(isTrustedSender({ url: page, parent: null }, page)).toBe(true);
    expect(isTrustedSender({ url: `${page}#/datasets/3`, parent: null }, page)).toBe(true);
  });

  it('refuses frames inside it, other pages and missing frames', () => {
    expect(isTrustedSender({ url: page, parent: {} }, page)).toBe(false);
    expect(isTrustedSender({ url: 'https://evil.example/', parent: null }, page)).toBe(false);
    expect(isTrustedSender({ url: 'file:///tmp/index.html', parent: null }, page)).toBe(false);
    expect(isTrustedSender({ url: `${page}.evil.html`, parent: null }, page)).toBe(false);
    expect(isTrustedSender(null, page)).toBe(false);
  });
});
