/**
 * Relabeling from somewhere other than the dataset page (the evaluation galleries): a selection of
 * image ids, the dataset's classes with their hotkeys, and labels written through labels.set — the
 * same undoable path as the grid — with undo through labels.undo. A class hotkey labels the
 * selection while one exists and nobody is typing.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ClassSummary } from '../../../preload/api';
import { isTypingTarget } from '../../app/shortcuts';
import { useStudio, useToast } from '../../app/StudioProvider';
import { formatInt } from '../../lib/format';
import { assignHotkeys, labelForKey } from './hotkeys';
import { withIds } from './selection';

export function useRelabel(datasetId: number | null) {
  const client = useStudio();
  const toast = useToast();
  const [classes, setClasses] = useState<ClassSummary[]>([]);
  const [selected, setSelected] = useState<ReadonlySet<number>>(() => new Set());
  /** Image id → the class it was relabeled to here (null: unlabeled), until undone. */
  const [relabeled, setRelabeled] = useState<ReadonlyMap<number, number | null>>(() => new Map());
  /** Relabel actions made here and not undone: undo is offered only for those. */
  const [actions, setActions] = useState(0);

  useEffect(() => {
    if (datasetId === null) return;
    let live = true;
    client.api['datasets.get']({ id: datasetId }).then(
      (detail) => live && setClasses(detail.classes),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [client, datasetId]);
  const hotkeys = useMemo(() => assignHotkeys(classes), [classes]);

  const toggle = useCallback((imageId: number) => setSelected((set) => withIds(set, [imageId], true)), []);
  const clear = useCallback(() => setSelected(new Set()), []);

  /** Labels the images (default: the selection) as classId, one undoable action. */
  const label = useCallback(
    async (classId: number | null, imageIds?: readonly number[]) => {
      const ids = [...(imageIds ?? selected)];
      if (datasetId === null || ids.length === 0) return;
      try {
        const change = await client.api['labels.set']({ datasetId, imageIds: ids, classId });
        if (change.imageIds.length > 0) setActions((n) => n + 1);
        setRelabeled((map) => new Map([...map, ...ids.map((id) => [id, classId] as const)]));
        if (!imageIds) setSelected(new Set());
        const name = classId === null ? 'unlabeled' : (classes.find((c) => c.id === classId)?.name ?? 'a class');
        toast.info(`${formatInt(ids.length)} ${ids.length === 1 ? 'image' : 'images'} labeled ${name}.`);
      } catch (e) {
        toast.error(e, 'Relabeling failed');
      }
    },
    [classes, client, datasetId, selected, toast],
  );

  const undo = useCallback(async () => {
    if (datasetId === null) return;
    try {
      const change = await client.api['labels.undo']({ datasetId });
      setActions((n) => Math.max(0, n - 1));
      const undone = new Set(change.imageIds);
      setRelabeled((map) => new Map([...map].filter(([id]) => !undone.has(id))));
      if (change.imageIds.length === 0) toast.info('Nothing to undo.');
    } catch (e) {
      toast.error(e, 'Undo failed');
    }
  }, [client, datasetId, toast]);

  const canUndo = actions > 0;
  const latest = useRef({ label, undo, selected, hotkeys, canUndo });
  useEffect(() => {
    latest.current = { label, undo, selected, hotkeys, canUndo };
  });
  useEffect(() => {
    if (datasetId === null) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || isTypingTarget(event.target) || document.querySelector('dialog[open]')) return;
      const { label: doLabel, undo: doUndo, selected: ids, hotkeys: keys, canUndo: undoable } = latest.current;
      const mod = event.ctrlKey || event.metaKey;
      // Ctrl+Z here undoes only after a relabel made here, not the dataset page's history unasked.
      if (mod && !event.altKey && !event.shiftKey && event.key.toLowerCase() === 'z' && undoable) {
        event.preventDefault();
        void doUndo();
        return;
      }
      if (mod || event.altKey || ids.size === 0) return;
      if (event.key === 'Escape') {
        event.preventDefault();
        setSelected(new Set());
        return;
      }
      const classId = labelForKey(keys, event.key);
      if (classId === undefined) return;
      event.preventDefault();
      void doLabel(classId);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [datasetId]);

  return { enabled: datasetId !== null, classes, hotkeys, selected, toggle, clear, label, undo, canUndo, relabeled };
}

export type Relabel = ReturnType<typeof useRelabel>;
