import { useEffect, useRef } from 'react';
import { NAV_SHORTCUTS } from './shortcuts';

export function ShortcutHelp({ onClose }: { onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby="shortcuts-title"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => e.target === ref.current && onClose()}
    >
      <h2 id="shortcuts-title" className="dialog-title">
        Keyboard shortcuts
      </h2>
      <table className="shortcut-table">
        <tbody>
          {NAV_SHORTCUTS.map((s) => (
            <tr key={s.section}>
              <th scope="row">Go to {s.label}</th>
              <td>
                <kbd>g</kbd> then <kbd>{s.sequence[1]}</kbd>
              </td>
              <td>
                <kbd>Alt</kbd>+<kbd>{s.altDigit}</kbd>
              </td>
            </tr>
          ))}
          <tr>
            <th scope="row">Thumbnail grid</th>
            <td colSpan={2}>
              <kbd>←</kbd> <kbd>→</kbd> <kbd>↑</kbd> <kbd>↓</kbd> <kbd>Home</kbd> <kbd>End</kbd> <kbd>PgUp</kbd> <kbd>PgDn</kbd>
            </td>
          </tr>
          <tr>
            <th scope="row">New dataset name</th>
            <td colSpan={2}>
              <kbd>n</kbd> on the datasets page
            </td>
          </tr>
          <tr>
            <th scope="row">This help</th>
            <td colSpan={2}>
              <kbd>?</kbd>
            </td>
          </tr>
        </tbody>
      </table>
      <div className="dialog-actions">
        <button type="button" className="button button-primary" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}
