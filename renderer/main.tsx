import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createStudioClient } from './lib/studio';
import { StudioProvider } from './app/StudioProvider';
import { App } from './app/App';
import './styles.css';

const client = createStudioClient();
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <StudioProvider client={client}>
      <App />
    </StudioProvider>
  </StrictMode>,
);
