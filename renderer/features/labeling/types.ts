import type { ApiInput } from '../../lib/studio';

/** Which images a grid shows (the `filter` of images.page / images.ids). */
export type Filter = ApiInput<'images.ids'>['filter'];

export type SplitFilter = NonNullable<Filter['split']>;

/** Image id → class id (null: unlabeled) set by the user, shown before the server confirms. */
export type Overrides = ReadonlyMap<number, number | null>;
