import { describe, expect, it } from 'vitest';
import { heatColor, saliencyRgba } from './saliency';

describe('saliency colours', () => {
  it('runs from blue through green to red, clamped', () => {
    expect(heatColor(0)).toEqual([0, 0, 128]);
    expect(heatColor(0.5)).toEqual([128, 255, 128]);
    expect(heatColor(1)).toEqual([128, 0, 0]);
    expect(heatColor(-3)).toEqual(heatColor(0));
    expect(heatColor(7)).toEqual(heatColor(1));
  });

  it('gives one RGBA pixel per patch, more opaque where attention is higher', () => {
    const rgba = saliencyRgba([0, 1]);
    expect(Array.from(rgba)).toEqual([0, 0, 128, 89, 128, 0, 0, 255]);
  });
});
