// A labelled image list written by the studio for a run: the files (content-addressed originals),
// their labels, and the split each belongs to, so the trainer uses the user's own splits.
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import { decodeFile, type ImageDataset } from './dataset';

export const manifestSchema = z
  .object({
    // One class is enough for a diffusion run; the run service asks two of a classifier's.
    classes: z.array(z.string()).min(1, 'a run needs at least one class'),
    items: z.array(
      z.object({
        file: z.string().min(1),
        label: z.number().int().min(0),
        split: z.enum(['train', 'val', 'test']).nullable(),
      }),
    ),
  })
  .refine((m) => m.items.every((item) => item.label < m.classes.length), 'a label is outside the class list');

export type DatasetManifest = z.output<typeof manifestSchema>;

/** The manifest's images in one split (or every image when split is undefined) as an ImageDataset. */
export function manifestDataset(manifest: DatasetManifest, split?: 'train' | 'val' | 'test'): ImageDataset {
  const items = split === undefined ? manifest.items : manifest.items.filter((item) => item.split === split);
  return {
    classes: manifest.classes,
    classOrder: 'sorted',
    length: items.length,
    label: (i) => items[i]!.label,
    id: (i) => items[i]!.file,
    load: (i, spec) => decodeFile(items[i]!.file, spec),
    split: (i) => items[i]!.split,
  };
}

export async function readManifest(file: string): Promise<DatasetManifest> {
  const raw = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${file}: cannot read the run's data manifest (${err.code ?? err.message})`);
  });
  const parsed = manifestSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`${file}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
