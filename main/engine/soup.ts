// Model soups (Wortsman et al. 2022, "Model soups: averaging weights of multiple fine-tuned models
// improves accuracy without increasing inference time"): the weights of models fine-tuned from
// the same base are averaged, uniformly or greedily. Pure: tensors in, tensors out.
import * as tf from '@tensorflow/tfjs';
import type { NamedTensors } from './methods/types';
import type { VitParams } from './models/vit';

/** What must agree between ingredients for their weights to be averaged meaningfully. */
export interface SoupIngredient {
  /** How the user knows it ("run 7 (LoRA r8)"): errors name it. */
  label: string;
  /** The base model it was fine-tuned from. */
  base: string;
  method: string;
  /** The method's trainable tensors and their shapes. */
  trainableShapes: ReadonlyMap<string, readonly number[]>;
  classes: readonly string[];
}

export class SoupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SoupError';
  }
}

const shapeKey = (shapes: ReadonlyMap<string, readonly number[]>) =>
  [...shapes].map(([name, shape]) => `${name}:${shape.join('×')}`).sort().join(',');

/**
 * Refuses ingredients that do not share a base model, a method, trainable shapes and classes:
 * only models fine-tuned from one starting point sit in one basin where averaging helps.
 */
export function checkSoupable(ingredients: readonly SoupIngredient[]): void {
  if (ingredients.length === 0) throw new SoupError('a soup needs at least one ingredient');
  const [first, ...rest] = ingredients as [SoupIngredient, ...SoupIngredient[]];
  for (const other of rest) {
    const against = `${other.label} and ${first.label}`;
    if (other.base !== first.base) {
      throw new SoupError(`${against} were fine-tuned from different base models (${other.base}, ${first.base}): only runs of one base model can be averaged`);
    }
    if (other.method !== first.method) {
      throw new SoupError(`${against} use different methods (${other.method}, ${first.method}): only runs of one method can be averaged`);
    }
    if (shapeKey(other.trainableShapes) !== shapeKey(first.trainableShapes)) {
      throw new SoupError(`${against} train tensors of different shapes (different ${first.method} options): only runs with the same trainable shapes can be averaged`);
    }
    if (other.classes.join('\0') !== first.classes.join('\0')) {
      throw new SoupError(`${against} predict different classes: only runs with the same classes, in the same order, can be averaged`);
    }
  }
}

/** The uniform average of parameter sets with the same names and shapes: new tensors (the caller owns them). */
export function averageParams(sets: readonly VitParams[]): NamedTensors {
  if (sets.length === 0) throw new SoupError('nothing to average');
  const [first, ...rest] = sets as [VitParams, ...VitParams[]];
  const names = Object.keys(first).sort();
  for (const set of rest) {
    const other = Object.keys(set).sort();
    if (other.join(',') !== names.join(',')) {
      const odd = other.find((n) => !(n in first)) ?? names.find((n) => !(n in set));
      throw new SoupError(`the weights to average do not have the same tensors ("${odd}" is not in all of them)`);
    }
    for (const name of names) {
      if (set[name]!.shape.join('×') !== first[name]!.shape.join('×')) {
        throw new SoupError(`"${name}" has shape ${set[name]!.shape.join('×')} in one model and ${first[name]!.shape.join('×')} in another`);
      }
    }
  }
  return tf.tidy(() => Object.fromEntries(names.map((name) => [name, tf.div(tf.addN(sets.map((s) => s[name]!)), sets.length)])));
}

export interface GreedyStep<T> {
  item: T;
  /** Held-out accuracy of the soup with this item added. */
  score: number;
  kept: boolean;
}

/**
 * Wortsman et al.'s greedy soup: ingredients sorted by their own held-out accuracy, best first;
 * each is added only when the soup's held-out accuracy does not drop. `score` evaluates the
 * average of a candidate list.
 */
export async function greedySoup<T>(
  ranked: readonly { item: T; score: number }[],
  score: (members: readonly T[]) => Promise<number>,
): Promise<{ members: T[]; score: number; steps: GreedyStep<T>[] }> {
  const sorted = [...ranked].sort((a, b) => b.score - a.score);
  if (sorted.length === 0) throw new SoupError('a soup needs at least one ingredient');
  const members = [sorted[0]!.item];
  let best = sorted[0]!.score;
  const steps: GreedyStep<T>[] = [{ item: sorted[0]!.item, score: best, kept: true }];
  for (const { item } of sorted.slice(1)) {
    const candidate = await score([...members, item]);
    const kept = candidate >= best;
    if (kept) {
      members.push(item);
      best = candidate;
    }
    steps.push({ item, score: candidate, kept });
  }
  return { members, score: best, steps };
}
