import sharp, { type Metadata } from 'sharp';

/** Originals above this are refused before decoding (a photo is rarely past 50 MB). */
export const MAX_FILE_BYTES = 200 * 1024 * 1024;
/** Decoding more pixels than this could exhaust memory: a decompression bomb, or a scan no model needs. */
export const MAX_PIXELS = 100_000_000;
export const THUMB_SIZE = 256;

const SUPPORTED = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

export interface AcceptedImage {
  ok: true;
  width: number;
  height: number;
  format: string;
  thumbnail: Buffer;
}
export interface RejectedImage {
  ok: false;
  reason: string;
}

/**
 * Checks that bytes are a whole, decodable image of sane size and makes its thumbnail.
 * Decoding the full image (for the thumbnail) is what proves it is not truncated.
 */
export async function intakeImage(bytes: Uint8Array): Promise<AcceptedImage | RejectedImage> {
  if (bytes.byteLength === 0) return { ok: false, reason: 'empty file (0 bytes)' };
  if (bytes.byteLength > MAX_FILE_BYTES) {
    return { ok: false, reason: `file is ${(bytes.byteLength / 2 ** 20).toFixed(0)} MB, above the 200 MB limit` };
  }
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    return { ok: false, reason: 'not an image (unrecognised file format)' };
  }
  const format = metadata.format ?? 'unknown';
  if (!SUPPORTED.has(format)) return { ok: false, reason: `unsupported image format: ${format}` };
  const { width, height } = metadata;
  if (!width || !height) return { ok: false, reason: 'image has no dimensions' };
  if (width * height > MAX_PIXELS) {
    return {
      ok: false,
      reason: `image declares ${width}×${height} pixels, above the ${MAX_PIXELS / 1e6} MP limit (possible decompression bomb)`,
    };
  }
  try {
    const thumbnail = await sharp(bytes, { limitInputPixels: MAX_PIXELS, failOn: 'truncated' })
      .rotate() // honour EXIF orientation so thumbnails are upright
      .resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer();
    // EXIF orientations 5–8 swap the axes: report the upright size.
    const swapped = (metadata.orientation ?? 1) >= 5;
    return { ok: true, width: swapped ? height : width, height: swapped ? width : height, format, thumbnail };
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { ok: false, reason: `truncated or corrupt image (${detail})` };
  }
}
