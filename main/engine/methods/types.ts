// The contract every PEFT method implements. A method owns some trainable tensors (its own
// names, or canonical ViT names it overrides) and the forward hooks that use them; the framework
// (framework.ts) adds the new classifier head, which every method trains.
import type * as tf from '@tensorflow/tfjs';
import type { z } from 'zod';
import type { CheckpointLayout } from '../io/checkpoint';
import type { VitConfig, VitHooks, VitParams } from '../models/vit';
import type { Rng } from '../train/rng';

/** Named tensors; the caller owns them (dispose with tf.dispose(Object.values(t))). */
export type NamedTensors = Record<string, tf.Tensor>;

export interface HookContext {
  /** Dropout and other train-only noise apply only when true. */
  training: boolean;
  /** Source of per-step seeds for train-only noise; untouched when training is false. */
  rng: Rng;
  /** Set when the batch is a crop from sampleCrop() (patch-based training): where it was cut. */
  crop?: CropWindow;
}

/** A square window of whole patches in the patch grid of the full (possibly resized) image. */
export interface CropWindow {
  /** Side, in patches, of the full image's grid the window lies in. */
  grid: number;
  top: number;
  left: number;
  /** Side of the window in patches. */
  size: number;
}

/** What export writes into adapter_config.json besides the tensors. */
export type AdapterConfig = Record<string, unknown>;

/** Cacheable frozen backbone activations and the trainable forward over them (side-tuning). */
export interface TapCache<O extends object> {
  /**
   * Per-image backbone activations the method reads, each [B, N, D] in a fixed order; no tensor
   * here depends on a trainable one, so no gradient flows into the backbone. Slice rows to batch.
   */
  taps(base: VitParams, config: VitConfig, options: O, images: tf.Tensor4D): tf.Tensor3D[];
  /** Logits from taps: equal to vitForward(forwardParams(base, trainable), ..., hooks) on their images. */
  logits(base: VitParams, trainable: NamedTensors, config: VitConfig, options: O, taps: readonly tf.Tensor3D[]): tf.Tensor2D;
}

export interface PeftMethod<O extends object = object> {
  /** Registry key, kebab-case: `--method NAME`. */
  readonly name: string;
  /** One line for `--help` and the UI. */
  readonly description: string;
  /** Options with the paper's defaults; each field carries a one-line .describe(). */
  readonly options: z.ZodType<O, unknown>;
  /**
   * True when the backbone is frozen and deterministic under this method, so the trainer may
   * compute vitPooled() once per image and train the head side on the cache.
   */
  readonly featureCacheable: boolean;
  /**
   * True when init() deliberately starts away from the pretrained function although no token is
   * added (SSF's paper init γ ~ N(1, 0.02²)); the shared table then skips its "init is identity"
   * check for the method.
   */
  readonly perturbsAtInit?: boolean;
  /**
   * For methods whose trainable part reads only frozen backbone activations (side-tuning): the
   * trainer may compute the taps once per image when augmentation is off and train on them. Such
   * methods leave featureCacheable false, since pooled features alone do not suffice.
   */
  readonly tapCache?: TapCache<O>;
  /**
   * How many leading blocks k the method leaves untouched: no trainable tensor and no hook acts
   * on the patch embedding, class token, position embeddings or blocks 0…k − 1 (a tokens hook may
   * act from block k on). The trainer may then compute the tokens entering block k once per image
   * (vitTokensAt) when augmentation is off and train from there (vitForwardFrom). LoRA: its first
   * adapted block; VPT: 0. Undefined when the method touches the embedding.
   */
  frozenPrefix?(config: VitConfig, options: O): number;
  /**
   * Names and shapes of int32 tensors the method keeps in its trainable set without training them
   * (SaRA's selected indices): init() returns them, hooks read them, afterStep() may replace them.
   * The trainer differentiates and optimises float32 tensors only, stores these as I32 in
   * checkpoints and adapters, and counts only shapes() as trainable parameters.
   */
  buffers?(config: VitConfig, options: O): Map<string, number[]>;
  /**
   * Patch-based training (SINE): turns a batch of full images into one crop window, seeded by rng;
   * the trainer passes the window as HookContext.crop to hooks() on that step.
   */
  sampleCrop?(images: tf.Tensor4D, config: VitConfig, options: O, rng: Rng): { images: tf.Tensor4D; crop: CropWindow };
  /**
   * The method's own trainable tensors (not the head side, which the framework adds). `config` is
   * the target config (numLabels = the new class count); `base` holds the pretrained weights.
   */
  init(base: VitParams, config: VitConfig, options: O, rng: Rng): NamedTensors;
  /** The method's own trainable names and shapes in closed form (no tensors needed). */
  shapes(config: VitConfig, options: O): Map<string, number[]>;
  /** Forward hooks over the trainable tensors (method's own and head side). */
  hooks(trainable: NamedTensors, config: VitConfig, options: O, ctx: HookContext): VitHooks;
  /**
   * Extra loss term over the trainable tensors (SaRA's nuclear-norm penalty); added to the task
   * loss inside the step, so it is differentiated with it. With `rng` the method may draw a random
   * part per step (SaRA: one matrix); without it, it returns that draw's expectation.
   */
  penalty?(trainable: NamedTensors, config: VitConfig, options: O, rng?: Rng): tf.Scalar;
  /**
   * Runs after every optimizer step (step = steps done so far) and may return replacements for
   * some trainable tensors of the same shapes (SaRA's progressive mask re-selection); the
   * trainer disposes the replaced ones and keeps their optimizer state. Must be deterministic
   * given its inputs, so resumed runs follow the same trajectory.
   */
  afterStep?(step: number, trainable: NamedTensors, base: VitParams, config: VitConfig, options: O): NamedTensors | undefined;
  /**
   * For methods whose inference needs no hooks once folded into the weights: the canonical ViT
   * weights that differ from base ⊕ trainable (new tensors, the caller owns them). Methods without
   * merge can only be exported as adapters.
   */
  merge?(base: VitParams, trainable: NamedTensors, config: VitConfig, options: O): NamedTensors;
  /** Inverse of merge: base weights recovered from merged ones (new tensors). */
  unmerge?(merged: VitParams, trainable: NamedTensors, config: VitConfig, options: O): NamedTensors;
  /**
   * Tensors for adapter_model.safetensors, head side included (new tensors; PyTorch [out, in] for
   * linear weights where the format is a PyTorch one), and their exact inverse.
   */
  adapterTensors(trainable: NamedTensors, config: VitConfig, options: O, layout: CheckpointLayout): NamedTensors;
  fromAdapterTensors(tensors: NamedTensors, config: VitConfig, options: O, layout: CheckpointLayout): NamedTensors;
  adapterConfig(config: VitConfig, options: O, layout: CheckpointLayout): AdapterConfig;
}
