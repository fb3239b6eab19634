/**
 * Reading what the user dropped or picked in the browser: walking dropped folders with
 * webkitGetAsEntry (so "cats/a.jpg" keeps its folder), and reading bytes as base64.
 */

export interface PickedFile {
  file: File;
  /** Path inside what was dropped, with "/" separators: "cats/a.jpg", "a.jpg". */
  relativePath: string;
}

/**
 * Take the entries out of a drop event synchronously: the browser empties the DataTransfer as
 * soon as the event handler returns, so walking has to start from what this returns.
 */
export function takeDropped(dataTransfer: DataTransfer): { entries: FileSystemEntry[]; loose: File[] } {
  const entries: FileSystemEntry[] = [];
  const loose: File[] = [];
  const items = Array.from(dataTransfer.items ?? []);
  if (items.length > 0 && typeof items[0].webkitGetAsEntry === 'function') {
    for (const item of items) {
      if (item.kind !== 'file') continue;
      const entry = item.webkitGetAsEntry();
      if (entry) entries.push(entry);
      else {
        const file = item.getAsFile();
        if (file) loose.push(file);
      }
    }
  } else {
    loose.push(...Array.from(dataTransfer.files ?? []));
  }
  return { entries, loose };
}

const fileOf = (entry: FileSystemFileEntry) => new Promise<File>((resolve, reject) => entry.file(resolve, reject));

/** readEntries answers in batches (100 in Chromium) until it answers an empty one. */
async function readAll(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const out: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}

/** Every file under the dropped entries, depth first, with its path relative to the drop. */
export async function collectDropped(entries: FileSystemEntry[], loose: File[], onCount?: (n: number) => void): Promise<PickedFile[]> {
  const out: PickedFile[] = loose.map((file) => ({ file, relativePath: file.name }));
  const visit = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      const file = await fileOf(entry as FileSystemFileEntry);
      out.push({ file, relativePath: entry.fullPath.replace(/^\/+/, '') || file.name });
      if (out.length % 250 === 0) onCount?.(out.length);
    } else if (entry.isDirectory) {
      for (const child of await readAll(entry as FileSystemDirectoryEntry)) await visit(child);
    }
  };
  for (const entry of entries) await visit(entry);
  return out;
}

/** Files from an <input type="file" webkitdirectory>: they carry their relative path. */
export function pickedFromInput(files: FileList): PickedFile[] {
  return Array.from(files).map((file) => ({ file, relativePath: file.webkitRelativePath || file.name }));
}

/** The file's bytes as base64 (no "data:" prefix). */
export function readBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result ?? '');
      const comma = url.indexOf(',');
      resolve(comma >= 0 ? url.slice(comma + 1) : '');
    };
    reader.onerror = () => reject(reader.error ?? new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

/** Whether a drag carries files (and not, say, selected text). */
export function dragHasFiles(event: { dataTransfer: DataTransfer | null }): boolean {
  return Array.from(event.dataTransfer?.types ?? []).includes('Files');
}
