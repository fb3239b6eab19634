/**
 * Providers: the studio client (the renderer's only way to the main process) and the toast queue.
 */
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import type { StudioClient } from '../lib/studio';
import { errorMessage } from '../lib/errors';
import { Toasts, type Toast } from '../components/Toasts';

const ClientContext = createContext<StudioClient | null>(null);

interface ToastApi {
  /** Show an error toast for a failed call; `context` says what was being done ("Renaming"). */
  error(error: unknown, context?: string): void;
  info(message: string): void;
}

const ToastContext = createContext<ToastApi | null>(null);

export function StudioProvider({ client, children }: { client: StudioClient; children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (toast: Omit<Toast, 'id'>) => {
      const id = nextId.current++;
      // Identical messages repeat rather than pile up (a flaky connection can fail many calls).
      setToasts((list) => [...list.filter((t) => t.message !== toast.message).slice(-3), { ...toast, id }]);
      window.setTimeout(() => dismiss(id), toast.kind === 'error' ? 8000 : 4000);
    },
    [dismiss],
  );
  const toastApi = useMemo<ToastApi>(
    () => ({
      error: (error, context) => push({ kind: 'error', message: context ? `${context}: ${errorMessage(error)}` : errorMessage(error) }),
      info: (message) => push({ kind: 'info', message }),
    }),
    [push],
  );

  return (
    <ClientContext.Provider value={client}>
      <ToastContext.Provider value={toastApi}>
        {children}
        <Toasts toasts={toasts} onDismiss={dismiss} />
      </ToastContext.Provider>
    </ClientContext.Provider>
  );
}

export function useStudio(): StudioClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error('useStudio() outside <StudioProvider>');
  return client;
}

export function useToast(): ToastApi {
  const toast = useContext(ToastContext);
  if (!toast) throw new Error('useToast() outside <StudioProvider>');
  return toast;
}
