import { contextBridge, ipcRenderer } from 'electron';
import { channels, eventNames, IPC_EVENT, IPC_INVOKE, type EventName, type StudioBridge } from './api';

// The renderer sees only this bridge, never ipcRenderer: known channels in, known events out.
const knownChannels = new Set<string>(channels);
const knownEvents = new Set<string>(eventNames);

const bridge: StudioBridge = {
  invoke(channel, input) {
    if (!knownChannels.has(channel)) {
      return Promise.resolve({ ok: false, error: { code: 'validation', message: `Unknown API call: ${channel}` } });
    }
    return ipcRenderer.invoke(IPC_INVOKE, channel, input);
  },
  on(event: EventName, listener) {
    if (!knownEvents.has(event)) return () => undefined;
    const forward = (_sender: unknown, name: string, payload: unknown) => {
      if (name === event) listener(payload);
    };
    ipcRenderer.on(IPC_EVENT, forward);
    return () => ipcRenderer.removeListener(IPC_EVENT, forward);
  },
};

contextBridge.exposeInMainWorld('studio', bridge);
