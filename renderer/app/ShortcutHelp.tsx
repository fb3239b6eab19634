import { useModalDialog } from '../components/useModalDialog';
import { NAV_SHORTCUTS } from './shortcuts';

export function ShortcutHelp({ onClose }: { onClose(): void }) {
  const ref = useModalDialog();
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
            <th scope="row">Label (dataset page)</th>
            <td colSpan={2}>
              class key <kbd>1</kbd>–<kbd>9</kbd>, then letters (shown by each class) · <kbd>0</kbd>/<kbd>⌫</kbd> unlabel · <kbd>Ctrl</kbd>+<kbd>A</kbd> select all ·{' '}
              <kbd>Ctrl</kbd>+<kbd>Z</kbd> undo · <kbd>Ctrl</kbd>+<kbd>Shift</kbd>+<kbd>Z</kbd> / <kbd>Ctrl</kbd>+<kbd>Y</kbd> redo
            </td>
          </tr>
          <tr>
            <th scope="row">Focus view</th>
            <td colSpan={2}>
              <kbd>Enter</kbd> open · <kbd>←</kbd> <kbd>→</kbd> move · <kbd>+</kbd> <kbd>−</kbd> <kbd>0</kbd> zoom · <kbd>Esc</kbd> back
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
