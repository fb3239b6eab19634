import { useEffect, useRef } from 'react';
import type { EventName, StudioEvents } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';

/**
 * Subscribe to a studio event, calling `handler` at most once per `ms` (leading + trailing), so
 * an import that changes a dataset hundreds of times a second costs a few refreshes.
 */
export function useThrottledEvent<E extends EventName>(
  event: E,
  filter: (payload: StudioEvents[E]) => boolean,
  handler: () => void,
  ms = 500,
): void {
  const client = useStudio();
  const latest = useRef({ filter, handler });
  useEffect(() => {
    latest.current = { filter, handler };
  });

  useEffect(() => {
    let last = 0;
    let timer: number | null = null;
    const fire = () => {
      timer = null;
      last = Date.now();
      latest.current.handler();
    };
    const off = client.on(event, (payload) => {
      if (!latest.current.filter(payload)) return;
      if (timer !== null) return;
      const wait = Math.max(0, last + ms - Date.now());
      timer = window.setTimeout(fire, wait);
    });
    return () => {
      off();
      if (timer !== null) window.clearTimeout(timer);
    };
  }, [client, event, ms]);
}
