/**
 * The classes of a dataset as labeling tools: each with its hotkey, colour, and create / rename /
 * recolour / merge / delete. Deleting asks what happens to the class's images.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ClassSummary, DatasetDetail } from '../../../preload/api';
import { useStudio, useToast } from '../../app/StudioProvider';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { messageFor } from '../../lib/errors';
import { formatInt, plural } from '../../lib/format';
import { assignHotkeys } from './hotkeys';

interface Props {
  datasetId: number;
  detail: DatasetDetail;
  onChanged(): Promise<void> | void;
}

export function ClassManager({ datasetId, detail, onChanged }: Props) {
  const client = useStudio();
  const toast = useToast();
  const [name, setName] = useState('');
  const [createError, setCreateError] = useState<unknown>(null);
  const [renaming, setRenaming] = useState<number | null>(null);
  const [merging, setMerging] = useState<ClassSummary | null>(null);
  const [deleting, setDeleting] = useState<ClassSummary | null>(null);
  const hotkeys = assignHotkeys(detail.classes);

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setCreateError(null);
    try {
      await client.api['classes.create']({ datasetId, name: name.trim() });
      setName('');
      await onChanged();
    } catch (e) {
      setCreateError(e);
    }
  };

  const update = async (id: number, patch: { name?: string; color?: string }) => {
    try {
      await client.api['classes.update']({ id, ...patch });
      await onChanged();
      return true;
    } catch (e) {
      toast.error(e, patch.name !== undefined ? 'Could not rename the class' : 'Could not change the colour');
      return false;
    }
  };

  const message = messageFor(createError, 'name');
  return (
    <section className="panel class-manager" aria-labelledby="label-classes-title">
      <h2 id="label-classes-title" className="panel-title">
        Label with <span className="muted">class keys</span>
      </h2>
      {detail.classes.length > 0 ? (
        <ul className="class-tools" aria-label="Classes and their hotkeys">
          {detail.classes.map((c) => (
            <li key={c.id} className="class-tool" data-testid={`class-row-${c.name}`}>
              <kbd className="class-hotkey" data-testid={`class-hotkey-${c.name}`} title={`Press ${hotkeys.get(c.id) ?? '—'} to label as ${c.name}`}>
                {hotkeys.get(c.id) ?? '—'}
              </kbd>
              <ColorInput color={c.color} label={`Colour of ${c.name}`} testId={`class-color-${c.name}`} onCommit={(color) => void update(c.id, { color })} />
              {renaming === c.id ? (
                <RenameInput
                  initial={c.name}
                  onDone={async (next) => {
                    if (next === null || next === c.name || (await update(c.id, { name: next }))) setRenaming(null);
                  }}
                />
              ) : (
                <span className="class-tool-name" title={c.name}>
                  {c.name}
                </span>
              )}
              <span className="class-tool-count muted">{formatInt(c.imageCount)}</span>
              <span className="class-tool-actions">
                <button type="button" className="button button-small button-ghost" data-testid={`class-rename-${c.name}`} onClick={() => setRenaming(c.id)} aria-label={`Rename ${c.name}`}>
                  Rename
                </button>
                <button
                  type="button"
                  className="button button-small button-ghost"
                  data-testid={`class-merge-${c.name}`}
                  onClick={() => setMerging(c)}
                  disabled={detail.classes.length < 2}
                  aria-label={`Merge ${c.name} into another class`}
                >
                  Merge
                </button>
                <button
                  type="button"
                  className="button button-small button-ghost button-danger-text"
                  data-testid={`class-delete-${c.name}`}
                  onClick={() => setDeleting(c)}
                  aria-label={`Delete ${c.name}`}
                >
                  Delete
                </button>
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No classes yet: add one to label with, or import sub-folders.</p>
      )}
      <form className="class-create" onSubmit={create} noValidate>
        <div className="field-row">
          <input
            className="input input-small"
            data-testid="class-new-name"
            aria-label="New class name"
            placeholder="New class…"
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={message ? true : undefined}
            autoComplete="off"
          />
          <button type="submit" className="button button-small" data-testid="class-create" disabled={name.trim() === ''}>
            Add class
          </button>
        </div>
        {message ? <p className="field-error">{message}</p> : null}
      </form>

      {merging ? <MergeDialog source={merging} classes={detail.classes} onClose={() => setMerging(null)} onDone={onChanged} /> : null}
      {deleting ? <DeleteDialog target={deleting} onClose={() => setDeleting(null)} onDone={onChanged} /> : null}
    </section>
  );
}

/** A colour picker that commits when the person stops choosing, not on every drag step. */
function ColorInput({ color, label, testId, onCommit }: { color: string; label: string; testId: string; onCommit(color: string): void }) {
  const [value, setValue] = useState(color);
  const [shown, setShown] = useState(color);
  if (shown !== color) {
    setShown(color);
    setValue(color);
  }
  const timer = useRef<number | null>(null);
  useEffect(() => () => void (timer.current !== null && window.clearTimeout(timer.current)), []);
  return (
    <input
      type="color"
      className="class-color"
      aria-label={label}
      data-testid={testId}
      value={value}
      onChange={(e) => {
        const next = e.target.value;
        setValue(next);
        if (timer.current !== null) window.clearTimeout(timer.current);
        timer.current = window.setTimeout(() => {
          timer.current = null;
          if (next.toLowerCase() !== color.toLowerCase()) onCommit(next);
        }, 400);
      }}
    />
  );
}

function RenameInput({ initial, onDone }: { initial: string; onDone(name: string | null): void }) {
  const [value, setValue] = useState(initial);
  return (
    <input
      className="input input-small class-rename"
      data-testid="class-rename-input"
      aria-label={`New name for ${initial}`}
      value={value}
      autoFocus
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => onDone(value.trim() || null)}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          onDone(value.trim() || null);
        } else if (e.key === 'Escape') {
          e.preventDefault();
          onDone(null);
        }
      }}
    />
  );
}

function MergeDialog({ source, classes, onClose, onDone }: { source: ClassSummary; classes: ClassSummary[]; onClose(): void; onDone(): Promise<void> | void }) {
  const client = useStudio();
  const toast = useToast();
  const others = classes.filter((c) => c.id !== source.id);
  const [targetId, setTargetId] = useState<number>(others[0]?.id ?? 0);
  return (
    <ConfirmDialog
      title={`Merge “${source.name}” into…`}
      confirmLabel="Merge"
      onClose={onClose}
      onConfirm={async () => {
        try {
          const { moved } = await client.api['classes.merge']({ sourceId: source.id, targetId });
          toast.info(`${plural(moved, 'image')} moved; “${source.name}” is gone. (Label undo history starts over.)`);
          onClose();
          await onDone();
        } catch (e) {
          toast.error(e, 'Could not merge');
        }
      }}
    >
      <p>
        Every image of “{source.name}” ({plural(source.imageCount, 'image')}) moves to the class you pick, then “{source.name}” is removed.
      </p>
      <label className="field">
        <span>Target class</span>
        <select className="input" data-testid="merge-target" value={targetId} onChange={(e) => setTargetId(Number(e.target.value))}>
          {others.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name} ({formatInt(c.imageCount)})
            </option>
          ))}
        </select>
      </label>
    </ConfirmDialog>
  );
}

function DeleteDialog({ target, onClose, onDone }: { target: ClassSummary; onClose(): void; onDone(): Promise<void> | void }) {
  const client = useStudio();
  const toast = useToast();
  const [images, setImages] = useState<'unlabel' | 'delete'>('unlabel');
  return (
    <ConfirmDialog
      title={`Delete class “${target.name}”?`}
      confirmLabel={images === 'delete' ? `Delete class and ${plural(target.imageCount, 'image')}` : 'Delete class'}
      danger
      onClose={onClose}
      onConfirm={async () => {
        try {
          await client.api['classes.delete']({ id: target.id, images });
          onClose();
          await onDone();
        } catch (e) {
          toast.error(e, 'Could not delete the class');
        }
      }}
    >
      <fieldset className="delete-choice">
        <legend>Its {plural(target.imageCount, 'image')}:</legend>
        <label>
          <input type="radio" name="class-images" data-testid="delete-unlabel" checked={images === 'unlabel'} onChange={() => setImages('unlabel')} /> stay in the
          dataset, unlabeled
        </label>
        <label>
          <input type="radio" name="class-images" data-testid="delete-images" checked={images === 'delete'} onChange={() => setImages('delete')} /> are deleted
          from the dataset too
        </label>
      </fieldset>
      <p className="muted">Label undo history starts over after this.</p>
    </ConfirmDialog>
  );
}
