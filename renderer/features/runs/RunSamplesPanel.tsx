import { useEffect, useMemo, useState } from 'react';
import type { RunPreview } from '../../../preload/api';
import { useStudio } from '../../app/StudioProvider';
import { useModalDialog } from '../../components/useModalDialog';
import { errorMessage } from '../../lib/errors';
import { formatInt } from '../../lib/format';
import './samples.css';

/** Previews grouped by step, oldest (the base model, step 0) first. */
export function gridsByStep(previews: readonly RunPreview[]): { step: number; samples: RunPreview[] }[] {
  const byStep = new Map<number, RunPreview[]>();
  for (const p of previews) byStep.set(p.step, [...(byStep.get(p.step) ?? []), p]);
  return [...byStep.entries()].sort(([a], [b]) => a - b).map(([step, samples]) => ({ step, samples: samples.sort((a, b) => a.index - b.index) }));
}

const sampleLabel = (p: RunPreview) => `${p.step === 0 ? 'base model' : `step ${p.step}`}, sample ${p.index + 1}${p.className ? ` (${p.className})` : ' (unconditional)'}`;

/**
 * A diffusion run's sample grids: the same seeds at every preview step, one row per step under
 * the base model's row, the newest highlighted; a click enlarges a sample.
 */
export function RunSamplesPanel({ runId }: { runId: number }) {
  const client = useStudio();
  const [previews, setPreviews] = useState<RunPreview[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [enlarged, setEnlarged] = useState<RunPreview | null>(null);

  useEffect(() => {
    let alive = true;
    const load = () =>
      client.api['runs.previews']({ id: runId }).then(
        (list) => alive && (setPreviews(list), setError(null)),
        (e: unknown) => alive && setError(errorMessage(e)),
      );
    void load();
    const stop = client.on('run.previews', (event) => {
      if (event.id === runId) void load();
    });
    return () => {
      alive = false;
      stop();
    };
  }, [client, runId]);

  const grids = useMemo(() => gridsByStep(previews ?? []), [previews]);
  const newest = grids.at(-1)?.step;

  return (
    <figure className="chart run-samples" data-testid="run-samples" aria-labelledby="run-samples-title">
      <figcaption id="run-samples-title" className="chart-title">
        Samples <span className="muted">(same seeds at every step)</span>
      </figcaption>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : previews === null ? (
        <p className="muted">Loading samples…</p>
      ) : grids.length === 0 ? (
        <p className="muted">The base model's samples appear once the run starts.</p>
      ) : (
        <div className="run-samples-rows">
          {grids.map(({ step, samples }) => (
            <div
              key={step}
              className={step === newest && step !== 0 ? 'run-samples-row run-samples-newest' : 'run-samples-row'}
              data-testid={step === 0 ? 'samples-base' : 'samples-step'}
              data-step={step}
            >
              <span className="run-samples-label">{step === 0 ? 'base' : `step ${formatInt(step)}`}</span>
              <div className="run-samples-images">
                {samples.map((p) => (
                  <button key={p.index} type="button" className="run-samples-thumb" onClick={() => setEnlarged(p)} title={sampleLabel(p)}>
                    <img src={client.mediaUrl('image', p.hash)} alt={sampleLabel(p)} data-hash={p.hash} />
                  </button>
                ))}
              </div>
            </div>
          ))}
        </div>
      )}
      {enlarged ? <EnlargedSample preview={enlarged} onClose={() => setEnlarged(null)} /> : null}
    </figure>
  );
}

function EnlargedSample({ preview, onClose }: { preview: RunPreview; onClose: () => void }) {
  const client = useStudio();
  const ref = useModalDialog();
  return (
    <dialog
      ref={ref}
      className="dialog run-samples-dialog"
      aria-label={sampleLabel(preview)}
      data-testid="sample-enlarged"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onClick={onClose}
    >
      <img src={client.mediaUrl('image', preview.hash)} alt={sampleLabel(preview)} />
      <p className="muted">{sampleLabel(preview)}</p>
    </dialog>
  );
}
