// Seeded, stratified train/validation split and per-class subsetting.
import { Rng } from './rng';

/** Sample indices grouped by label, in index order. */
function byClass(labels: readonly number[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  labels.forEach((label, i) => {
    const group = groups.get(label);
    if (group) group.push(i);
    else groups.set(label, [i]);
  });
  return groups;
}

/** The first `perClass` samples of every class (in data-set order), as sorted indices. */
export function limitPerClass(labels: readonly number[], perClass: number): number[] {
  return [...byClass(labels).values()].flatMap((ix) => ix.slice(0, perClass)).sort((a, b) => a - b);
}

/**
 * Splits `indices` so that each class contributes round(n_c · fraction) samples to validation
 * (at least one when the class has two or more and fraction > 0, never all of them). Depends only
 * on the seed, not on the run's RNG, so resumed runs get the same split.
 */
export function stratifiedSplit(indices: readonly number[], label: (i: number) => number, fraction: number, seed: number): { train: number[]; val: number[] } {
  const rng = Rng.fromSeed(seed ^ 0x5eed5);
  const groups = byClass(indices.map(label));
  const train: number[] = [];
  const val: number[] = [];
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const members = rng.shuffle(groups.get(key)!.map((k) => indices[k]!));
    let nVal = Math.round(members.length * fraction);
    if (fraction > 0 && members.length >= 2) nVal = Math.min(Math.max(nVal, 1), members.length - 1);
    val.push(...members.slice(0, nVal));
    train.push(...members.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

export type SampleSplit = 'train' | 'val' | 'test' | null;

export interface TrainValSplit {
  train: number[];
  val: number[];
  /**
   * 'dataset': the user's own val images are the validation set; 'drawn': the dataset has none,
   * so a seeded stratified share (valFraction) of the labelled images was drawn instead.
   */
  valSource: 'dataset' | 'drawn';
}

/**
 * The run's train and validation samples. When the dataset assigns samples to splits and some are
 * in 'val', those are the validation set and every other non-test sample trains (limitPerClass
 * trims the training side only); otherwise a seeded stratified draw. Test samples never appear.
 * The evaluation service calls this too, so "val" means the same images there.
 */
export function trainValSplit(
  labels: readonly number[],
  splits: readonly SampleSplit[] | undefined,
  opts: { valFraction: number; seed: number; limitPerClass?: number },
): TrainValSplit {
  const all = labels.map((_, i) => i).filter((i) => splits?.[i] !== 'test');
  const limit = (pool: number[]) => {
    if (!opts.limitPerClass) return pool;
    const kept = limitPerClass(pool.map((i) => labels[i]!), opts.limitPerClass);
    return kept.map((k) => pool[k]!);
  };
  if (splits && all.some((i) => splits[i] === 'val')) {
    return { train: limit(all.filter((i) => splits[i] !== 'val')), val: all.filter((i) => splits[i] === 'val'), valSource: 'dataset' };
  }
  return { ...stratifiedSplit(limit(all), (i) => labels[i]!, opts.valFraction, opts.seed), valSource: 'drawn' };
}
