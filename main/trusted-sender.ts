/** What the check needs of Electron's WebFrameMain (kept structural so it is testable without Electron). */
export interface SenderFrame {
  url: string;
  parent: unknown;
}

/**
 * Only the studio's own top-level page may call the API: not an iframe inside it, not a page the
 * window was navigated to, whatever query or hash it carries.
 */
export function isTrustedSender(frame: SenderFrame | null | undefined, rendererUrl: string): boolean {
  if (!frame || frame.parent) return false;
  const strip = (url: string) => url.split(/[?#]/)[0];
  return strip(frame.url) === strip(rendererUrl);
}
