import { describe, expect, it } from 'vitest';
import { collectDropped } from './dropFiles';

// Minimal stand-ins for the browser's FileSystemEntry objects (vitest runs in node).
type Tree = { [name: string]: Tree | string };

function entry(name: string, node: Tree | string, parent = ''): FileSystemEntry {
  const fullPath = `${parent}/${name}`;
  if (typeof node === 'string') {
    return {
      isFile: true,
      isDirectory: false,
      name,
      fullPath,
      file: (ok: (f: File) => void) => ok(new File([node], name)),
    } as unknown as FileSystemEntry;
  }
  const children = Object.entries(node).map(([n, child]) => entry(n, child, fullPath));
  return {
    isFile: false,
    isDirectory: true,
    name,
    fullPath,
    createReader: () => {
      // Like Chromium: answers in batches (of 2 here) until an empty one.
      let at = 0;
      return {
        readEntries: (ok: (batch: FileSystemEntry[]) => void) => {
          ok(children.slice(at, at + 2));
          at += 2;
        },
      };
    },
  } as unknown as FileSystemEntry;
}

describe('collectDropped', () => {
  it('walks dropped folders in batches and keeps paths relative to the drop', async () => {
    const pets = entry('pets', { cats: { 'a.jpg': 'a', 'b.jpg': 'b', 'c.jpg': 'c' }, dogs: { 'd.jpg': 'd' }, 'e.jpg': 'e' });
    const loose = new File(['x'], 'x.png');
    const files = await collectDropped([pets], [loose]);
    expect(files.map((f) => f.relativePath).sort()).toEqual(['pets/cats/a.jpg', 'pets/cats/b.jpg', 'pets/cats/c.jpg', 'pets/dogs/d.jpg', 'pets/e.jpg', 'x.png']);
    expect(files.find((f) => f.relativePath === 'pets/dogs/d.jpg')?.file.size).toBe(1);
  });
});
