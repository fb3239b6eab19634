/**
 * The renderer's typed client of the studio API. Under Electron it talks to the preload's
 * `window.studio` bridge; in a browser (remote shell) it uses HTTP for calls and a
 * WebSocket for events. Both speak the same envelopes defined in preload/api.ts.
 */
import {
  channels,
  mediaPath,
  MEDIA_SCHEME,
  StudioError,
  type ApiInput,
  type ApiOutputs,
  type Channel,
  type Envelope,
  type EventName,
  type MediaKind,
  type StudioApi,
  type StudioBridge,
  type StudioEvents,
} from '../../preload/api';

export interface StudioClient {
  api: StudioApi;
  on<E extends EventName>(event: E, listener: (payload: StudioEvents[E]) => void): () => void;
  mediaUrl(kind: MediaKind, hash: string): string;
  shell: 'electron' | 'remote';
}

interface Transport {
  invoke(channel: Channel, input: unknown): Promise<Envelope<unknown>>;
  on(event: EventName, listener: (payload: unknown) => void): () => void;
}

function buildApi(transport: Transport): StudioApi {
  const api: Partial<Record<Channel, (input: unknown) => Promise<unknown>>> = {};
  for (const channel of channels) {
    api[channel] = async (input: unknown) => {
      const envelope = await transport.invoke(channel, input);
      if (!envelope.ok) throw new StudioError(envelope.error);
      return envelope.value;
    };
  }
  return api as StudioApi;
}

function remoteTransport(): Transport {
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  let socket: WebSocket | null = null;
  let retryMs = 500;

  const connect = () => {
    const url = new URL('/events', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    socket = new WebSocket(url);
    socket.onopen = () => {
      retryMs = 500;
    };
    socket.onmessage = (message) => {
      let parsed: { event: EventName; payload: unknown };
      try {
        parsed = JSON.parse(String(message.data)) as typeof parsed;
      } catch {
        return; // not one of ours: ignore rather than break every listener
      }
      listeners.get(parsed.event)?.forEach((listener) => listener(parsed.payload));
    };
    // The studio may restart; reconnect with backoff rather than going silent.
    socket.onclose = () => {
      socket = null;
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10_000);
    };
  };
  connect();

  return {
    async invoke(channel, input) {
      let response: Response;
      try {
        response = await fetch(`/api/${channel}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          credentials: 'same-origin',
          body: JSON.stringify(input ?? {}),
        });
      } catch {
        return { ok: false, error: { code: 'unavailable', message: 'The studio is not reachable: is it still running?' } };
      }
      if (response.status === 401) {
        return {
          ok: false,
          error: { code: 'unavailable', message: 'Not authorised: open the studio with the URL (and token) it printed.' },
        };
      }
      try {
        return (await response.json()) as Envelope<unknown>;
      } catch {
        // A proxy's 413 or 502 page, not the studio's envelope.
        return { ok: false, error: { code: 'unavailable', message: `The studio answered HTTP ${response.status} ${response.statusText}.` } };
      }
    },
    on(event, listener) {
      const set = listeners.get(event) ?? new Set();
      set.add(listener);
      listeners.set(event, set);
      return () => set.delete(listener);
    },
  };
}

declare global {
  interface Window {
    studio?: StudioBridge;
  }
}

export function createStudioClient(): StudioClient {
  const bridge = window.studio;
  const shell = bridge ? 'electron' : 'remote';
  const transport: Transport = bridge ?? remoteTransport();
  return {
    api: buildApi(transport),
    on: (event, listener) => transport.on(event, listener as (payload: unknown) => void),
    mediaUrl: (kind, hash) => (shell === 'electron' ? `${MEDIA_SCHEME}:/${mediaPath(kind, hash)}` : mediaPath(kind, hash)),
    shell,
  };
}

export type { ApiInput, ApiOutputs };
