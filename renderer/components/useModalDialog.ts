import { useEffect, useRef } from 'react';

/**
 * A <dialog> shown modally for as long as its component is mounted: opened on mount (focus trapped,
 * the page behind inert), closed on unmount. Attach the returned ref to the dialog element.
 */
export function useModalDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return ref;
}
