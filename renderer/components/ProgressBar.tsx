import { percent } from '../lib/format';

interface Props {
  done: number;
  total: number;
  label: string;
  testId?: string;
}

/** Determinate when the total is known, indeterminate (animated) before. */
export function ProgressBar({ done, total, label, testId }: Props) {
  const known = total > 0;
  return (
    <div
      className={known ? 'progress' : 'progress progress-indeterminate'}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={known ? total : undefined}
      aria-valuenow={known ? Math.min(done, total) : undefined}
      data-testid={testId}
    >
      <div className="progress-fill" style={known ? { width: `${percent(done, total)}%` } : undefined} />
    </div>
  );
}
