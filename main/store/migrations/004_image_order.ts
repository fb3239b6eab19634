// Migration 4: images of a dataset in id order straight from an index, so a grid page neither
// sorts the whole dataset (a temp B-tree per page at 60,000 images) nor, with keyset paging,
// walks the images before it.
export const imageOrderSchema = `
CREATE INDEX images_by_dataset_id ON images(dataset_id, id);
`;
