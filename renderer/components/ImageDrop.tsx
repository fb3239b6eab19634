import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { dragHasFiles } from '../features/datasets/dropFiles';

/** An image to work on: a file the user dropped or chose, or one already in the studio (by hash). */
export type PickedImage = { kind: 'upload'; file: File; url: string } | { kind: 'stored'; hash: string; name: string; url: string };

/** The picked image; a dropped file's object URL lives until the next image or leaving the page. */
export function usePickedImage(): [PickedImage | null, (next: PickedImage) => void] {
  const [image, setImage] = useState<PickedImage | null>(null);
  const objectUrl = useRef<string | null>(null);
  const pick = useCallback((next: PickedImage) => {
    if (objectUrl.current) URL.revokeObjectURL(objectUrl.current);
    objectUrl.current = next.kind === 'upload' ? next.url : null;
    setImage(next);
  }, []);
  useEffect(
    () => () => {
      if (objectUrl.current) URL.revokeObjectURL(objectUrl.current);
      objectUrl.current = null;
    },
    [],
  );
  return [image, pick];
}

/** A dashed area that takes one dropped image file, with a "Choose image…" button; shows its children. */
export function ImageDropZone({ onFile, testId, fileTestId, className, children }: { onFile: (file: File) => void; testId: string; fileTestId: string; className?: string; children: ReactNode }) {
  const [dragging, setDragging] = useState(false);
  const base = className ? `preview-drop ${className}` : 'preview-drop';
  return (
    <div
      className={dragging ? `${base} preview-drop-active` : base}
      data-testid={testId}
      onDragOver={(e) => {
        if (!dragHasFiles(e)) return;
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const file = e.dataTransfer.files[0];
        if (file) onFile(file);
      }}
    >
      {children}
      <label className="button button-small">
        Choose image…
        <input
          type="file"
          accept="image/*"
          className="visually-hidden"
          data-testid={fileTestId}
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) onFile(file);
            e.target.value = '';
          }}
        />
      </label>
    </div>
  );
}
