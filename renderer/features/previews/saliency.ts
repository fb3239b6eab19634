/**
 * Colouring of an attention-rollout map (values in [0, 1] on the patch grid) as RGBA pixels, one
 * per patch; the canvas that holds them is stretched over the image, and the browser's bilinear
 * smoothing upsamples the grid.
 */

/** Blue (little attention) through green and yellow to red (most): a "jet"-like ramp. */
export function heatColor(value: number): [number, number, number] {
  const v = Math.min(Math.max(value, 0), 1);
  const channel = (centre: number) => Math.round(255 * Math.min(Math.max(1.5 - Math.abs(4 * v - centre), 0), 1));
  return [channel(3), channel(2), channel(1)];
}

/** rows × cols values, row-major → RGBA bytes for ImageData; more attention is also more opaque. */
export function saliencyRgba(values: readonly number[]): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(values.length * 4);
  values.forEach((value, i) => {
    const [r, g, b] = heatColor(value);
    out.set([r, g, b, Math.round(255 * (0.35 + 0.65 * Math.min(Math.max(value, 0), 1)))], i * 4);
  });
  return out;
}
