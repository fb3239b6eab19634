import { useEffect, useRef } from 'react';
import type { ClassSummary, ImageItem } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';

/** The original image of a tile, in a modal (Enter or double-click on a tile; Escape closes). */
export function ImageViewer({ item, classes, onClose }: { item: ImageItem; classes: ClassSummary[]; onClose(): void }) {
  const client = useStudio();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const cls = item.classId === null ? null : classes.find((c) => c.id === item.classId);
  return (
    <dialog
      ref={ref}
      className="dialog viewer"
      aria-label={item.fileName}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => e.target === ref.current && onClose()}
    >
      <img className="viewer-image" src={client.mediaUrl('image', item.hash)} alt={item.fileName} />
      <div className="viewer-bar">
        <span className="viewer-name">{item.fileName}</span>
        <span className="muted">
          {item.width} × {item.height}
        </span>
        {cls ? (
          <span className="viewer-class">
            <span className="chip-dot" style={{ background: cls.color }} aria-hidden="true" />
            {cls.name}
          </span>
        ) : (
          <span className="muted">unlabeled</span>
        )}
        <button type="button" className="button button-small" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}
