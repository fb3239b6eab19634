import type { EventName, StudioEvents } from '../../preload/api';

type Listener = <E extends EventName>(event: E, payload: StudioEvents[E]) => void;

/** Main → renderer events; each shell subscribes once and forwards to its clients. */
export function createEventBus() {
  const listeners = new Set<Listener>();
  return {
    emit<E extends EventName>(event: E, payload: StudioEvents[E]): void {
      for (const listener of listeners) listener(event, payload);
    },
    subscribe(listener: Listener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type EventBus = ReturnType<typeof createEventBus>;
