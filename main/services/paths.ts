import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The data folder: PEFT_STUDIO_HOME, else the OS's per-user app-data folder (the same place
 * Electron's userData points at, so both shells share one studio).
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.PEFT_STUDIO_HOME) return env.PEFT_STUDIO_HOME;
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'PEFT Studio');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'PEFT Studio');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'peft-studio');
}
