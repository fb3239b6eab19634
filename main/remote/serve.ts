import { createStudioDispatch, type Studio } from '../studio';
import { newToken } from './auth';
import { startRemoteServer, type RemoteServer } from './server';
import { remoteSettings } from './settings';

/** Serves an open studio over HTTP/WebSocket and prints the one line a person (or a test) opens. */
export async function serveRemote(studio: Studio, rendererDir: string): Promise<RemoteServer> {
  const { host, port } = remoteSettings(process.env);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
    console.warn(`Warning: the remote shell listens on ${host}, reachable from other machines; anyone with the token can use the studio.`);
  }
  const server = await startRemoteServer({
    host,
    port,
    token: newToken(),
    rendererDir,
    dispatch: createStudioDispatch(studio),
    events: studio.events,
    media: studio.media,
    runFile: (id, item, name) => studio.runExport.read(id, item, name),
  });
  console.log(`PEFT Studio (remote shell) is up: ${server.url}`);
  return server;
}
