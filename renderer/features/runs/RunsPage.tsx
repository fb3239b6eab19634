import { usePageCrumbs } from '../../app/chrome';
import { EmptyState } from '../../components/EmptyState';

export function RunsPage() {
  usePageCrumbs([{ label: 'Runs', href: '#/runs' }]);
  return (
    <section className="page" aria-labelledby="runs-title">
      <header className="page-header">
        <h1 id="runs-title">Runs</h1>
      </header>
      <EmptyState title="No training runs" icon="▶">
        <p>Training runs arrive with the trainer; nothing here yet.</p>
      </EmptyState>
    </section>
  );
}
