/** The dataset page's filter chips: everything, the unlabeled images, or one class. */
export type ImageFilter = { kind: 'all' } | { kind: 'unlabeled' } | { kind: 'class'; classId: number };

/** The `images.page` classId of a filter: undefined = all, null = unlabeled. */
export const filterClassId = (filter: ImageFilter): number | null | undefined =>
  filter.kind === 'all' ? undefined : filter.kind === 'unlabeled' ? null : filter.classId;
