import { inputSchemas, type ApiOutputs, type Channel, type Envelope, type ParsedInput } from '../../preload/api';
import { toErrorBody } from './errors';
import { exportDataset } from './export';
import { listMethodInfo } from './methods';
import type { Studio } from '../studio';

type Handlers = { [C in Channel]: (input: ParsedInput<C>) => ApiOutputs[C] | Promise<ApiOutputs[C]> };

/** Every channel of the contract, bound to the services. Shell-neutral: both shells dispatch here. */
export function createHandlers(studio: Studio): Handlers {
  const { datasets, imports, labeling, runs, store } = studio;
  return {
    'app.info': () => studio.info(),
    'app.pickFolder': () => studio.pickFolder(),
    'datasets.list': () => datasets.list(),
    'datasets.get': ({ id }) => datasets.get(id),
    'datasets.create': ({ name }) => datasets.create(name),
    'datasets.rename': ({ id, name }) => datasets.rename(id, name),
    'datasets.delete': ({ id }) => datasets.delete(id),
    'images.page': ({ datasetId, offset, limit, afterId, classId, filter }) =>
      datasets.images(datasetId, { ...filter, ...(classId !== undefined && { classId }) }, offset, limit, afterId),
    'images.ids': ({ datasetId, filter }) => datasets.imageIds(datasetId, filter),
    'predictions.runs': ({ datasetId }) => datasets.predictionRuns(datasetId),
    'datasets.classSplits': ({ id }) => datasets.classSplits(id),
    'classes.create': ({ datasetId, name, color }) => labeling.createClass(datasetId, name, color),
    'classes.update': ({ id, name, color }) => labeling.updateClass(id, name, color),
    'classes.merge': ({ sourceId, targetId }) => labeling.mergeClasses(sourceId, targetId),
    'classes.delete': ({ id, images }) => labeling.deleteClass(id, images, datasets.sweepMedia),
    'labels.set': ({ datasetId, imageIds, classId }) => labeling.setLabels(datasetId, imageIds, classId),
    'labels.undo': ({ datasetId }) => labeling.undo(datasetId),
    'labels.redo': ({ datasetId }) => labeling.redo(datasetId),
    'splits.make': (input) => labeling.makeSplits(input),
    'splits.set': ({ datasetId, imageIds, split }) => labeling.setSplit(datasetId, imageIds, split),
    'captions.set': ({ imageId, text }) => labeling.setCaption(imageId, text),
    'datasets.export': ({ datasetId, path }) => exportDataset(store, studio.media, datasetId, path),
    'methods.list': () => listMethodInfo(),
    'runs.create': (input) => runs.create(input),
    'runs.list': () => runs.list(),
    'runs.get': ({ id }) => runs.get(id),
    'runs.metrics': ({ id, name, afterStep, maxPoints }) => runs.metrics(id, name, afterStep, maxPoints),
    'runs.stop': ({ id }) => runs.stop(id),
    'runs.pause': ({ id }) => runs.stop(id, 'paused'),
    'runs.resume': ({ id }) => runs.resume(id),
    'runs.checkpoint': ({ id }) => runs.checkpoint(id),
    'runs.extend': ({ id, steps }) => runs.extend(id, steps),
    'runs.log': ({ id, lines }) => runs.log(id, lines),
    'runs.estimate': (input) => runs.estimate(input),
    'runs.previews': ({ id }) => runs.previews(id),
    'runs.files': ({ id }) => studio.runExport.files(id),
    'runs.export': ({ id, items, destination }) => studio.runExport.exportTo(id, items, destination),
    'runs.openFolder': ({ id }) => studio.runExport.openFolder(id),
    'runs.evaluate': ({ id, split }) => studio.evaluation.evaluate(id, split),
    'imports.start': ({ datasetId, source }) => imports.start(datasetId, source),
    'imports.get': ({ id }) => imports.get(id),
    'imports.list': ({ datasetId }) => imports.list(datasetId),
    'jobs.cancel': ({ jobId }) => ({ cancelled: imports.cancel(jobId) || studio.diffusion.cancel(jobId) || studio.soups.cancel(jobId) }),
    'models.list': () => studio.models.list(),
    'models.import': ({ path }) => studio.models.import(path),
    'previews.predict': (input) => studio.previews.predict(input),
    'soups.make': ({ runIds, jobId }) => studio.soups.make(runIds, jobId),
    'soups.keep': ({ runIds, recipe, name }) => studio.soups.keep(runIds, recipe, name),
    'diffusion.sample': (input) => studio.diffusion.sample(input),
    'diffusion.edit': (input) => studio.diffusion.edit(input),
    'diffusion.results': () => studio.diffusion.results(),
    'diffusion.keep': (input) => studio.diffusion.keep(input),
  };
}

export type Dispatch = (channel: string, rawInput: unknown) => Promise<Envelope<unknown>>;

/**
 * The one entry for calls from either shell: unknown channels and inputs that fail their
 * schema are refused with a typed error before any service runs.
 */
export function createDispatch(handlers: Handlers): Dispatch {
  return async (channel, rawInput) => {
    if (!Object.hasOwn(inputSchemas, channel)) {
      return { ok: false, error: { code: 'validation', message: `Unknown API call: ${String(channel).slice(0, 100)}` } };
    }
    const schema = inputSchemas[channel as Channel];
    const parsed = schema.safeParse(rawInput);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
      const first = issues[0];
      return {
        ok: false,
        error: {
          code: 'validation',
          message: `Invalid input for ${channel}: ${first.path ? `${first.path}: ` : ''}${first.message}`,
          issues,
        },
      };
    }
    try {
      const handler = handlers[channel as Channel] as (input: unknown) => unknown;
      return { ok: true, value: await handler(parsed.data) };
    } catch (error) {
      return { ok: false, error: toErrorBody(error) };
    }
  };
}
