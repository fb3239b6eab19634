import { describe, expect, it } from 'vitest';
import { classFolders, isClutter, planChunks, uploadLabel } from './upload';

describe('classFolders', () => {
  it('uses the top folder of each dropped path', () => {
    expect(classFolders(['cats/a.jpg', 'dogs/b.jpg', 'loose.png'])).toEqual(['cats', 'dogs', '']);
  });

  it('treats one dropped folder with sub-folders as the dataset root', () => {
    expect(classFolders(['pets/cats/a.jpg', 'pets/dogs/b.jpg', 'pets/c.jpg'])).toEqual(['cats', 'dogs', '']);
  });

  it('keeps one dropped class folder as the class', () => {
    expect(classFolders(['cats/a.jpg', 'cats/b.jpg'])).toEqual(['cats', 'cats']);
  });

  it('folds deeper folders into their top class folder and accepts backslashes', () => {
    expect(classFolders(['cats/x/a.jpg', 'dogs\\b.jpg'])).toEqual(['cats', 'dogs']);
  });
});

describe('planChunks', () => {
  it('cuts by file count', () => {
    const chunks = planChunks(new Array(450).fill(1), 200, 1e9);
    expect(chunks.map((c) => c.length)).toEqual([200, 200, 50]);
    expect(chunks.flat()).toEqual([...Array(450).keys()]);
  });

  it('cuts by bytes and lets one oversized file travel alone', () => {
    expect(planChunks([4, 4, 4, 20, 1], 200, 10)).toEqual([[0, 1], [2], [3], [4]]);
  });

  it('plans nothing for nothing', () => {
    expect(planChunks([])).toEqual([]);
  });
});

describe('isClutter', () => {
  it('recognises operating-system files', () => {
    expect(isClutter('.DS_Store')).toBe(true);
    expect(isClutter('Thumbs.db')).toBe(true);
    expect(isClutter('cat.jpg')).toBe(false);
  });
});

describe('uploadLabel', () => {
  it('names one dropped folder, or counts loose files', () => {
    expect(uploadLabel([{ relativePath: 'pets/cats/a.jpg' }, { relativePath: 'pets/b.jpg' }])).toBe('folder pets (2 files)');
    expect(uploadLabel([{ relativePath: 'a.jpg' }, { relativePath: 'cats/b.jpg' }])).toBe('2 dropped files');
    expect(uploadLabel([{ relativePath: 'a.jpg' }])).toBe('1 dropped file');
  });
});
