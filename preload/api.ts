/**
 * THE contract between the renderer and the main process, shared by both shells
 * (Electron IPC and the remote HTTP/WebSocket shell). Plain TypeScript + zod only:
 * no Electron, Node or DOM imports, so every side can import it.
 */
import { z } from 'zod';

// ---------- input schemas: every call's input is checked against these in main ----------

const id = z.number().int().positive();
const name = z.string().trim().min(1, 'a name is required').max(200, 'at most 200 characters');
const absolutePath = z
  .string()
  .min(1, 'a path is required')
  .max(4096)
  .refine((p) => !p.includes('\0'), 'the path contains a NUL byte');

/** A file dropped into the renderer, sent as bytes where no file path can be had (browser). */
const uploadedFile = z.object({
  name: z.string().min(1).max(1024),
  /** Folder of the file inside what was dropped ("cats/a.jpg" → "cats"); names its class. */
  folder: z.string().max(4096).default(''),
  base64: z.string().max(70_000_000, 'a dropped file may be at most 50 MB'),
});

export const importSource = z.discriminatedUnion('kind', [
  /** A folder on the studio machine; sub-folders become classes (ImageFolder layout). */
  z.object({ kind: z.literal('folder'), path: absolutePath }),
  /** Loose files on the studio machine, imported unlabeled. */
  z.object({ kind: z.literal('files'), paths: z.array(absolutePath).min(1).max(100_000) }),
  /** Files dropped into the window, carried as bytes. */
  z.object({ kind: z.literal('upload'), files: z.array(uploadedFile).min(1).max(1_000) }),
]);

const split = z.enum(['train', 'val', 'test']);
const color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour like #4e79a7');
const imageIds = z.array(id).min(1, 'select at least one image').max(200_000);

/** Which images of a dataset a grid shows; every field narrows. */
export const imageFilter = z
  .object({
    /** null: unlabeled only; absent: any class. */
    classId: id.nullable().optional(),
    /** 'none': in no split yet. */
    split: z.enum(['train', 'val', 'test', 'none']).optional(),
    importId: id.optional(),
    /** Part of the file name, case-insensitive. */
    search: z.string().max(500).optional(),
    /** Images run `runId`'s evaluation scored: predicted as `classId`, or labeled otherwise than predicted. */
    prediction: z.object({ runId: id, classId: id.optional(), disagrees: z.literal(true).optional() }).strict().optional(),
  })
  .strict();

/** Which model a preview runs: an imported (or souped) model, or a run's trained model. */
const previewModel = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('model'), id }).strict(),
  z.object({ kind: z.literal('run'), id }).strict(),
]);

/**
 * The image a preview runs on: bytes the user dropped (checked like an imported file), or an image
 * already in the studio, by content hash. Never a path: the renderer may be a remote browser.
 */
const contentHash = z.string().regex(/^[0-9a-f]{64}$/, 'a content hash (64 hex digits)');
const previewImage = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('upload'), name: z.string().min(1).max(1024), base64: uploadedFile.shape.base64 }).strict(),
  z.object({ kind: z.literal('stored'), hash: contentHash }).strict(),
]);

/** Diffusion inputs: a class index, denoising steps, a seed, a guidance scale, a fraction of the schedule. */
const classIndex = z.number().int().min(0).max(100_000);
const diffusionSteps = z.number().int().min(1).max(1000);
const diffusionSeed = z.number().int().min(0).max(2 ** 31 - 1);
const guidanceScale = z.number().min(0).max(20);
const fraction = z.number().min(0).max(1);

/** The finished runs a soup averages. */
const soupRuns = z.array(id).min(1, 'select at least one run').max(12, 'at most 12 runs in one soup');

/** A run's settings: what runs.create starts and runs.estimate dry-runs. */
const newRun = z
  .object({
    name: name.optional(),
    datasetId: id,
    modelId: id,
    method: z.string().min(1).max(100),
    methodOptions: z.record(z.string(), z.unknown()).default({}),
    steps: z.number().int().min(1).max(1_000_000).default(300),
    batchSize: z.number().int().min(1).max(4_096).default(32),
    lr: z.number().positive().max(10).default(1e-3),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
    valFraction: z.number().min(0).lt(1).default(0.1),
    evalEvery: z.number().int().min(1).default(50),
    checkpointEvery: z.number().int().min(1).default(100),
    /** Only with a diffusion (DiT) base model; the worker fills in what is left out. */
    diffusion: z
      .object({
        classDropout: fraction.optional(),
        previewEvery: z.number().int().min(1).max(1_000_000).optional(),
        previewCount: z.number().int().min(1).max(16).optional(),
        previewSteps: z.number().int().min(1).max(250).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** What a run's export can hold. */
export const runExportItems = ['adapter', 'model', 'metrics', 'config'] as const;

/**
 * A chart's point budget for a run's history (about two per pixel of a wide chart), passed as
 * runs.metrics' maxPoints: a run with a million points opens as fast as a short one.
 */
export const CHART_POINTS = 4_000;

export const inputSchemas = {
  'app.info': z.object({}).strict(),
  'app.pickFolder': z.object({}).strict(),
  'datasets.list': z.object({}).strict(),
  'datasets.get': z.object({ id }).strict(),
  'datasets.create': z.object({ name }).strict(),
  'datasets.rename': z.object({ id, name }).strict(),
  'datasets.delete': z.object({ id }).strict(),
  'images.page': z
    .object({
      datasetId: id,
      offset: z.number().int().min(0),
      limit: z.number().int().min(1).max(5_000),
      /** Keyset paging: the page starts after this image (the last of the page before); offset is then only echoed. */
      afterId: id.optional(),
      /** null: unlabeled images only; undefined: all. */
      classId: id.nullable().optional(),
      filter: imageFilter.optional(),
    })
    .strict(),
  'images.ids': z.object({ datasetId: id, filter: imageFilter }).strict(),
  /** Runs whose evaluations stored predictions on the dataset's images (for the prediction filters). */
  'predictions.runs': z.object({ datasetId: id }).strict(),
  /** Images per class and split (the splits chart): one grouped pass over the dataset. */
  'datasets.classSplits': z.object({ id }).strict(),
  'classes.create': z.object({ datasetId: id, name, color: color.optional() }).strict(),
  'classes.update': z.object({ id, name: name.optional(), color: color.optional() }).strict(),
  'classes.merge': z.object({ sourceId: id, targetId: id }).strict(),
  'classes.delete': z.object({ id, images: z.enum(['unlabel', 'delete']) }).strict(),
  'labels.set': z.object({ datasetId: id, imageIds, classId: id.nullable() }).strict(),
  'labels.undo': z.object({ datasetId: id }).strict(),
  'labels.redo': z.object({ datasetId: id }).strict(),
  'splits.make': z
    .object({
      datasetId: id,
      train: z.number().min(0).max(1),
      val: z.number().min(0).max(1),
      test: z.number().min(0).max(1),
      seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
      /** false: keep every image's split and place only images without one (stable as data grows). */
      reassign: z.boolean().default(false),
    })
    .strict()
    .refine((r) => Math.abs(r.train + r.val + r.test - 1) < 1e-6, { message: 'train + val + test must be 1', path: ['train'] }),
  'splits.set': z.object({ datasetId: id, imageIds, split }).strict(),
  'captions.set': z.object({ imageId: id, text: z.string().max(10_000) }).strict(),
  'datasets.export': z.object({ datasetId: id, path: absolutePath }).strict(),
  'methods.list': z.object({}).strict(),
  'runs.create': newRun,
  'runs.list': z.object({}).strict(),
  'runs.get': z.object({ id }).strict(),
  'runs.metrics': z
    .object({
      id,
      name: z.string().min(1).max(100),
      afterStep: z.number().int().min(-1).default(-1),
      /** At most about this many points (a chart's budget): the lowest and highest of each step range, first and last. */
      maxPoints: z.number().int().min(10).max(1_000_000).optional(),
    })
    .strict(),
  'runs.stop': z.object({ id }).strict(),
  'runs.pause': z.object({ id }).strict(),
  'runs.resume': z.object({ id }).strict(),
  /** Saves a checkpoint at the training run's next step boundary. */
  'runs.checkpoint': z.object({ id }).strict(),
  /** Adds `steps` to the budget: a training run takes it at its next step, any other run resumes. */
  'runs.extend': z.object({ id, steps: z.number().int().min(1).max(1_000_000) }).strict(),
  /** The last lines of the run's log (events, warnings, errors, the worker's stderr). */
  'runs.log': z.object({ id, lines: z.number().int().min(1).max(5_000).default(200) }).strict(),
  /** A dry run of a few steps in a worker: parameters, step time, peak memory, advice. */
  'runs.estimate': newRun,
  /** A diffusion run's sample grids, the base model's (step 0) first. */
  'runs.previews': z.object({ id }).strict(),
  /** The files a run can export or (remote shell) download. */
  'runs.files': z.object({ id }).strict(),
  /** `choose`: a folder picked in the studio's native dialog; `data`: exports/run-<id> in the data folder. */
  'runs.export': z.object({ id, items: z.array(z.enum(runExportItems)).min(1).max(4), destination: z.enum(['choose', 'data']) }).strict(),
  /** Opens the run folder in the OS shell of the machine the studio runs on (Electron only). */
  'runs.openFolder': z.object({ id }).strict(),
  /** Scores a finished run's model on its validation images, the dataset's test split, or both. */
  'runs.evaluate': z.object({ id, split: z.enum(['val', 'test', 'all']) }).strict(),
  'imports.start': z.object({ datasetId: id, source: importSource }).strict(),
  'imports.get': z.object({ id }).strict(),
  'imports.list': z.object({ datasetId: id }).strict(),
  'jobs.cancel': z.object({ jobId: z.string().min(1).max(100) }).strict(),
  'models.list': z.object({}).strict(),
  'models.import': z.object({ path: absolutePath }).strict(),
  /** Top-5 classes and the attention-rollout map of one image under a model or a run's model. */
  'previews.predict': z.object({ model: previewModel, image: previewImage }).strict(),
  /**
   * Evaluates the uniform and the greedy soup of finished runs on the images all of them held out.
   * jobId (the caller's): soups.progress events, and jobs.cancel stops it between evaluation batches.
   */
  'soups.make': z.object({ runIds: soupRuns.min(2, 'select at least two runs'), jobId: z.string().min(1).max(100).optional() }).strict(),
  /** Averages the runs' weights and keeps the result as a model of the Models list. */
  'soups.keep': z.object({ runIds: soupRuns, recipe: z.enum(['uniform', 'greedy']), name: name.optional() }).strict(),
  /**
   * Class-conditional samples from a DiT model: PNGs stored in the media store; sample i depends on
   * (seed, i) only. jobId (the caller's): diffusion.progress events, and jobs.cancel stops after the
   * current chunk, returning the samples made so far.
   */
  'diffusion.sample': z
    .object({
      modelId: id,
      classId: classIndex,
      n: z.number().int().min(1).max(64),
      steps: diffusionSteps,
      seed: diffusionSeed,
      cfg: guidanceScale,
      eta: z.number().min(0).max(1).default(0),
      jobId: z.string().min(1).max(100).optional(),
    })
    .strict(),
  /**
   * SDEdit + SINE model-based guidance on one image: noised to t0, denoised towards targetClass; a
   * fine-tuned DiT (same shape as the base, or the base with a diffusion adapter) guides with weight beta inside the window.
   */
  'diffusion.edit': z
    .object({
      modelId: id,
      fineTuned: z
        .discriminatedUnion('kind', [
          /** A fully fine-tuned DiT imported as a model. */
          z.object({ kind: z.literal('model'), modelId: id, classId: classIndex }).strict(),
          /** A diffusion adapter folder (peft-studio train --task diffusion) applied to the base model. */
          z.object({ kind: z.literal('adapter'), path: absolutePath, classId: classIndex }).strict(),
        ])
        .optional(),
      image: previewImage,
      targetClass: classIndex,
      scale: guidanceScale,
      beta: fraction,
      window: z.object({ from: fraction, to: fraction }).strict().refine((w) => w.from <= w.to, 'the window starts after it ends'),
      t0: fraction,
      steps: diffusionSteps,
      seed: diffusionSeed,
    })
    .strict(),
  /** This session's generated and edited images, newest first. */
  'diffusion.results': z.object({}).strict(),
  /** Adds a generated image to a dataset through the import path (className: its label, created if new). */
  'diffusion.keep': z.object({ hash: contentHash, datasetId: id, className: name.optional() }).strict(),
} as const;

export type Channel = keyof typeof inputSchemas;
export type ApiInput<C extends Channel> = z.input<(typeof inputSchemas)[C]>;
export type ParsedInput<C extends Channel> = z.output<(typeof inputSchemas)[C]>;
export const channels = Object.keys(inputSchemas) as Channel[];

// ---------- outputs ----------

export interface BackendInfo {
  name: string;
  reason: string;
}

export interface AppInfo {
  version: string;
  shell: 'electron' | 'remote';
  dataDir: string;
  /** The tensor backend the training engine uses, once it has been started. */
  backend: BackendInfo | null;
}

export interface DatasetSummary {
  id: number;
  name: string;
  createdAt: string;
  imageCount: number;
  classCount: number;
  unlabeledCount: number;
  /** Images per split ('none': in no split yet). */
  splitCounts: Record<Split | 'none', number>;
}

export interface ClassSummary {
  id: number;
  name: string;
  color: string;
  imageCount: number;
}

export type Split = 'train' | 'val' | 'test';

export interface DatasetDetail extends DatasetSummary {
  classes: ClassSummary[];
}

/** Images of one class (classId null: unlabeled) per split; datasets.classSplits leaves out classes without images. */
export interface ClassSplitCounts {
  classId: number | null;
  counts: Record<Split | 'none', number>;
}

export interface ImageItem {
  id: number;
  hash: string;
  fileName: string;
  width: number;
  height: number;
  classId: number | null;
  split: Split | null;
  caption: string | null;
}

/** A run with stored predictions on a dataset: `count` images scored. */
export interface PredictionRun {
  runId: number;
  name: string;
  count: number;
}

export interface ImagePage {
  total: number;
  offset: number;
  items: ImageItem[];
}

export type ImportStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface ImportIssue {
  path: string;
  reason: string;
}

export interface ImportReport {
  id: number;
  datasetId: number;
  jobId: string;
  source: string;
  status: ImportStatus;
  total: number;
  processed: number;
  added: number;
  duplicates: number;
  skipped: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  issues: ImportIssue[];
}

export interface ImportStarted {
  importId: number;
  jobId: string;
}

export interface ModelSummary {
  id: number;
  name: string;
  layout: string;
  paramCount: number;
  imageSize: number;
  numChannels: number;
  classes: string[];
  path: string;
  createdAt: string;
  /** Embedded in the app (resources/models): read-only, used from there, never copied. */
  builtIn?: boolean;
}

/** Diffusion models (DiT) generate images; every other layout is an image classifier that runs train. */
export function isDiffusionModel(model: Pick<ModelSummary, 'layout'>): boolean {
  return model.layout === 'dit';
}

/** The methods a diffusion run offers (those with sites in a DiT); the engine's DIFFUSION_METHODS. */
export const DIFFUSION_RUN_METHODS: readonly string[] = ['full', 'lora', 'sara', 'ssf'];

/** An image a diffusion model made (a sample or an edit), stored in the media store by hash. */
export interface GeneratedImage {
  hash: string;
  /** 'input': an edit's input as the model saw it. */
  kind: 'sample' | 'edit' | 'input';
  modelName: string;
  /** The class it was generated (or edited) towards. */
  className: string;
  seed: number;
  /** Index within its request: sample i of a seed is the same image whatever n. */
  index: number;
  width: number;
  height: number;
  createdAt: string;
}

export interface EditResult {
  /** The input at the model's resolution, as the model saw it. */
  before: GeneratedImage;
  after: GeneratedImage;
  /** The β the guidance used: 0 when no fine-tuned model was given. */
  betaUsed: number;
  fineTunedName: string | null;
}

/** What a label change did, and where the dataset's undo history stands after it. */
export interface LabelChange {
  /** Images whose label this action (or its undo/redo) changed. */
  imageIds: number[];
  canUndo: boolean;
  canRedo: boolean;
}

export interface DatasetExport {
  path: string;
  images: number;
  manifest: string;
}

export interface MethodOption {
  key: string;
  description: string;
  default: unknown;
}

export interface MethodInfo {
  name: string;
  description: string;
  options: MethodOption[];
}

export type RunStatus = 'queued' | 'running' | 'paused' | 'done' | 'failed' | 'interrupted' | 'stopped';

export interface RunSummary {
  id: number;
  name: string;
  method: string;
  status: RunStatus;
  datasetId: number | null;
  modelId: number | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  step: number;
  totalSteps: number;
  lastLoss: number | null;
  lastValAccuracy: number | null;
  bestValAccuracy: number | null;
  trainableParams: number | null;
  totalParams: number | null;
  backend: string | null;
  /** The newest checkpoint's step (where a resume starts), null before the first. */
  lastCheckpointStep: number | null;
}

export interface MetricSummary {
  name: string;
  context: string;
  last: number | null;
  min: number | null;
  max: number | null;
  lastStep: number;
  count: number;
}

export interface CheckpointInfo {
  step: number;
  createdAt: string;
}

export interface RunDetail extends RunSummary {
  /** 'diffusion' when the base model is a DiT (the run has sample grids). */
  task: 'classification' | 'diffusion';
  config: unknown;
  info: Record<string, unknown>;
  metrics: MetricSummary[];
  /** Newest first. */
  checkpoints: CheckpointInfo[];
}

/** One sample of a diffusion run's preview grid: same seed per index at every step. */
export interface RunPreview {
  /** 0: the base model before training. */
  step: number;
  index: number;
  /** The PNG in the media store. */
  hash: string;
  /** The model class it was sampled for; '' for the null (unconditional) class. */
  className: string;
}

export interface RunLogLine {
  time: string;
  level: 'info' | 'warn' | 'error';
  text: string;
}

/** The sample grids a diffusion run draws as it trains, timed by the dry run. */
export interface RunEstimatePreviews {
  /** Grids the whole run samples: the base model's, one every previewEvery steps, and the last step's. */
  grids: number;
  /** One grid measured in the dry run after its last step (the tuned model, as the run samples it; PNGs included). */
  msPerGrid: number;
  samplesPerGrid: number;
  /** DDIM steps per grid. */
  samplingSteps: number;
  /** grids × msPerGrid, in seconds. */
  totalS: number;
}

export interface RunEstimate {
  trainableParams: number;
  totalParams: number;
  trainSize: number;
  valSize: number;
  /** Median of the dry run's steps after its first. */
  msPerStep: number;
  stepsMeasured: number;
  /** Start-up before the first step (model, data, feature cache). */
  setupS: number;
  /** Start-up plus the whole budget at msPerStep, plus a diffusion run's sample grids (evaluations not included). */
  etaS: number;
  /** A diffusion run's sample grids: present only for diffusion runs. */
  previews?: RunEstimatePreviews;
  /** The dry-run worker's peak resident memory. */
  peakBytes: number;
  /** peakBytes plus what the decoded-image cache adds over the full run. */
  projectedPeakBytes: number;
  freeMemoryBytes: number;
  totalMemoryBytes: number;
  fits: 'yes' | 'tight' | 'no';
  /** One line each a person can act on; empty when the run fits and is quick. */
  advice: string[];
}

export type RunExportItem = (typeof runExportItems)[number];

export interface RunFile {
  item: RunExportItem;
  /** File name inside its item (adapter/, model/) or at the top (metrics.csv, run_config.json). */
  name: string;
  bytes: number;
}

export interface RunExport {
  /** Null when the user closed the folder dialog. */
  folder: string | null;
  /** Paths relative to folder. */
  files: string[];
}

/** Where the remote shell serves a run's file for download (item and name from runs.files). */
export const runFilePath = (runId: number, item: RunExportItem, name: string): string =>
  `/runs/${runId}/files/${item}/${encodeURIComponent(name)}`;

export interface MetricPointOut {
  step: number;
  value: number | null;
  time: number;
}

export type EvaluationSplit = 'val' | 'test' | 'all';

export interface EvaluationClassScore {
  name: string;
  /** Null when the model never predicted this class. */
  precision: number | null;
  /** Null when the split has no image of this class. */
  recall: number | null;
  support: number;
}

export interface EvaluationPrediction {
  imageHash: string;
  /** The image in the run's dataset (null when the dataset or the image is gone): what relabeling labels. */
  imageId: number | null;
  fileName: string;
  /** Indices into RunEvaluation.classes. */
  label: number;
  pred: number;
  /** Softmax probability of the predicted class. */
  confidence: number;
}

export interface RunEvaluation {
  runId: number;
  split: EvaluationSplit;
  n: number;
  accuracy: number;
  classes: string[];
  perClass: EvaluationClassScore[];
  /** confusion[true][pred]. */
  confusion: number[][];
  predictions: EvaluationPrediction[];
}

export interface PreviewClass {
  label: string;
  probability: number;
}

export interface PreviewResult {
  modelName: string;
  /** The most probable classes (five, or fewer when the model has fewer), most probable first. */
  top: PreviewClass[];
  /**
   * Attention rollout of the class token over the patch grid (row-major rows × cols), scaled so
   * the largest value is 1. The model sees the whole image resized to its input, so the grid
   * covers the whole image.
   */
  saliency: { rows: number; cols: number; values: number[] };
  /** The image's upright size. */
  width: number;
  height: number;
}

export interface SoupScore {
  runIds: number[];
  /** Accuracy on the held-out images. */
  accuracy: number;
}

export interface SoupReport {
  /** How many images every ingredient held out (none trained on them): what all scores use. */
  heldOut: number;
  /**
   * Whether every run started from the same point: the same seed, so the same new-head weights.
   * Runs of different seeds start their heads apart, which averaging may not forgive.
   */
  sharedStart: boolean;
  classes: string[];
  ingredients: { runId: number; name: string; accuracy: number }[];
  uniform: SoupScore;
  /** Ingredients best first, each kept only when the soup's accuracy did not drop. */
  greedy: SoupScore & { steps: { runId: number; accuracy: number; kept: boolean }[] };
}

export interface ApiOutputs {
  'app.info': AppInfo;
  'app.pickFolder': string | null;
  'datasets.list': DatasetSummary[];
  'datasets.get': DatasetDetail;
  'datasets.create': DatasetSummary;
  'datasets.rename': DatasetSummary;
  'datasets.delete': { deleted: true };
  'images.page': ImagePage;
  'images.ids': number[];
  'predictions.runs': PredictionRun[];
  'datasets.classSplits': ClassSplitCounts[];
  'classes.create': ClassSummary;
  'classes.update': ClassSummary;
  'classes.merge': { moved: number };
  'classes.delete': { deleted: true };
  'labels.set': LabelChange;
  'labels.undo': LabelChange;
  'labels.redo': LabelChange;
  'splits.make': Record<Split | 'none', number>;
  'splits.set': Record<Split | 'none', number>;
  'captions.set': { imageId: number; caption: string | null };
  'datasets.export': DatasetExport;
  'methods.list': MethodInfo[];
  'runs.create': RunSummary;
  'runs.list': RunSummary[];
  'runs.get': RunDetail;
  'runs.metrics': MetricPointOut[];
  'runs.stop': RunSummary;
  'runs.pause': RunSummary;
  'runs.resume': RunSummary;
  'runs.evaluate': RunEvaluation;
  'runs.checkpoint': RunSummary;
  'runs.extend': RunSummary;
  'runs.log': RunLogLine[];
  'runs.estimate': RunEstimate;
  'runs.previews': RunPreview[];
  'runs.files': RunFile[];
  'runs.export': RunExport;
  'runs.openFolder': { opened: boolean };
  'imports.start': ImportStarted;
  'imports.get': ImportReport;
  'imports.list': ImportReport[];
  'jobs.cancel': { cancelled: boolean };
  'models.list': ModelSummary[];
  'models.import': ModelSummary;
  'previews.predict': PreviewResult;
  'soups.make': SoupReport;
  'soups.keep': ModelSummary;
  'diffusion.sample': GeneratedImage[];
  'diffusion.edit': EditResult;
  'diffusion.results': GeneratedImage[];
  'diffusion.keep': ImportStarted;
}

export type StudioApi = {
  [C in Channel]: (input: ApiInput<C>) => Promise<ApiOutputs[C]>;
};

// ---------- events (main → renderer) ----------

export interface JobProgress {
  jobId: string;
  kind: 'import';
  datasetId: number;
  status: ImportStatus;
  done: number;
  total: number;
  message: string;
}

/** A soups.make with a jobId: the stage it is in and how far it got. */
export interface SoupProgress {
  jobId: string;
  /** Loading the runs' models, scoring each run alone, the uniform soup, then the greedy steps. */
  stage: 'loading' | 'ingredient' | 'uniform' | 'greedy';
  /** Run i of n (loading, ingredient), greedy step k of n − 1, 1 of 1 for the uniform soup. */
  index: number;
  count: number;
  /** The run loaded, scored, or tried in the greedy soup. */
  runName?: string;
  /** Held-out images scored in this stage (0 of 0 while loading). */
  imagesDone: number;
  imagesTotal: number;
  /** Images scored over all 2n scorings; total is 0 until the runs are loaded. */
  done: number;
  total: number;
}

export interface StudioEvents {
  'job.progress': JobProgress;
  'datasets.changed': { datasetId: number };
  'run.progress': RunSummary;
  'run.log': { id: number; lines: RunLogLine[] };
  /** A diffusion run stored a new sample grid. */
  'run.previews': { id: number; step: number };
  /** A diffusion.sample with a jobId: denoising steps done of all (samples × steps). */
  'diffusion.progress': { jobId: string; done: number; total: number };
  'soups.progress': SoupProgress;
}

export type EventName = keyof StudioEvents;
export const eventNames: EventName[] = ['job.progress', 'datasets.changed', 'run.progress', 'run.log', 'run.previews', 'diffusion.progress', 'soups.progress'];

// ---------- errors and the wire format ----------

export type StudioErrorCode = 'validation' | 'not_found' | 'conflict' | 'io' | 'unavailable' | 'internal';

export interface StudioErrorBody {
  code: StudioErrorCode;
  /** One line a person can act on. */
  message: string;
  /** For validation errors: which field, and what is wrong with it. */
  issues?: { path: string; message: string }[];
}

/** Every call answers with this envelope, over IPC and over HTTP alike. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: StudioErrorBody };

/** Thrown by clients when a call fails, carrying the typed error body. */
export class StudioError extends Error {
  readonly code: StudioErrorCode;
  readonly issues?: { path: string; message: string }[];
  constructor(body: StudioErrorBody) {
    super(body.message);
    this.name = 'StudioError';
    this.code = body.code;
    this.issues = body.issues;
  }
}

/** Where the renderer fetches image bytes; each shell maps it to its own URL scheme. */
export type MediaKind = 'thumb' | 'image';
export const mediaPath = (kind: MediaKind, hash: string): string => `/media/${kind}/${hash}`;
export const isContentHash = (hash: string): boolean => /^[0-9a-f]{64}$/.test(hash);

/** The Electron preload exposes exactly this on `window.studio`. */
export interface StudioBridge {
  invoke(channel: Channel, input: unknown): Promise<Envelope<unknown>>;
  on(event: EventName, listener: (payload: unknown) => void): () => void;
}

export const IPC_INVOKE = 'studio:invoke';
export const IPC_EVENT = 'studio:event';
export const MEDIA_SCHEME = 'studio-media';
