import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { DatasetExport, ImageItem } from '../../preload/api';
import { writeFileAtomic } from '../engine/io/atomic';
import type { Store } from '../store';
import { notFound, ServiceError } from './errors';
import type { MediaStore } from './media';

/** Folder names from class names: no separators, no dot-only names, nothing a file system refuses. */
const safeName = (name: string) => name.replace(/[\\/:*?"<>|\0]/g, '_').replace(/^\.+$/, '_');

const csvField = (value: string | null) => (value === null ? '' : /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/**
 * Writes a dataset as an ImageFolder (one sub-folder per class, unlabeled images at the top,
 * captions as same-name .txt files) plus manifest.json and manifest.csv. Importing the folder
 * again gives the same images, classes, labels and captions.
 */
export async function exportDataset(store: Store, media: MediaStore, datasetId: number, dir: string): Promise<DatasetExport> {
  const dataset = store.datasets.get(datasetId);
  if (!dataset) throw notFound(`Dataset ${datasetId}`);
  const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new ServiceError('io', `Cannot write to ${dir} (${error.code ?? error.message}).`);
  });
  if (existing.length > 0) throw new ServiceError('conflict', `${dir} is not empty: export into a new or empty folder.`);

  const classNames = new Map(store.datasets.classes(datasetId).map((c) => [c.id, c.name]));
  const taken = new Set<string>();
  const rows: { file: string; class: string | null; split: string | null; caption: string | null; sha256: string }[] = [];
  const PAGE = 2_000;
  for (let offset = 0; offset < dataset.imageCount; offset += PAGE) {
    const { items } = store.images.page(datasetId, {}, offset, PAGE);
    for (const image of items) rows.push(await exportImage(image));
  }

  async function exportImage(image: ImageItem) {
    const className = image.classId === null ? null : (classNames.get(image.classId) ?? null);
    const folder = className === null ? '' : safeName(className);
    const extension = extname(image.fileName);
    const stem = safeName(image.fileName.slice(0, image.fileName.length - extension.length) || image.hash.slice(0, 12));
    let name = `${stem}${extension}`;
    // Two images may share a file name (from different source folders): the hash tells them apart.
    if (taken.has(join(folder, name).toLowerCase())) name = `${stem}-${image.hash.slice(0, 10)}${extension}`;
    taken.add(join(folder, name).toLowerCase());
    const file = folder ? `${folder}/${name}` : name;
    await mkdir(join(dir, folder), { recursive: true });
    await copyFile(media.pathOf('image', image.hash), join(dir, file));
    if (image.caption !== null) {
      await writeFileAtomic(join(dir, folder, `${name.slice(0, name.length - extension.length)}.txt`), [Buffer.from(image.caption)]);
    }
    return { file, class: className, split: image.split, caption: image.caption, sha256: image.hash };
  }

  const manifest = { dataset: dataset.name, classes: [...classNames.values()], images: rows };
  await writeFileAtomic(join(dir, 'manifest.json'), [Buffer.from(JSON.stringify(manifest, null, 2))]);
  const csv = ['file,class,split,sha256,caption', ...rows.map((r) => [r.file, r.class, r.split, r.sha256, r.caption].map(csvField).join(','))];
  await writeFileAtomic(join(dir, 'manifest.csv'), [Buffer.from(csv.join('\n') + '\n')]);
  return { path: dir, images: rows.length, manifest: join(dir, 'manifest.json') };
}
