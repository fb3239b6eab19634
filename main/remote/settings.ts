/** Where the remote shell listens: loopback unless the user opts in with PEFT_STUDIO_HOST. */
export function remoteSettings(env: NodeJS.ProcessEnv): { host: string; port: number } {
  const host = env.PEFT_STUDIO_HOST?.trim() || '127.0.0.1';
  const rawPort = env.PEFT_STUDIO_PORT?.trim();
  const port = rawPort ? Number(rawPort) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PEFT_STUDIO_PORT must be a port number (0–65535), not "${rawPort}".`);
  }
  return { host, port };
}
