import { initSchema } from './001_init';
import { labelingSchema } from './002_labeling';
import { runInfoSchema } from './003_run_info';
import { imageOrderSchema } from './004_image_order';
import { predictionsSchema } from './005_predictions';
import { runPreviewsSchema } from './006_run_previews';

/** Applied in order; a migration's number is its position + 1 and is kept in PRAGMA user_version. */
export const migrations: readonly { name: string; sql: string }[] = [
  { name: '001_init', sql: initSchema },
  { name: '002_labeling', sql: labelingSchema },
  { name: '003_run_info', sql: runInfoSchema },
  { name: '004_image_order', sql: imageOrderSchema },
  { name: '005_predictions', sql: predictionsSchema },
  { name: '006_run_previews', sql: runPreviewsSchema },
];
