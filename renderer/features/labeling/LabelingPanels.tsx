/** The labeling tools of the dataset page's side column: classes with hotkeys, splits, export. */
import type { DatasetDetail } from '../../../preload/api';
import { ClassManager } from './ClassManager';
import { ExportPanel } from './ExportPanel';
import { SplitsPanel } from './SplitsPanel';

export function LabelingPanels({ datasetId, detail, onChanged }: { datasetId: number; detail: DatasetDetail; onChanged(): Promise<void> | void }) {
  return (
    <>
      <ClassManager datasetId={datasetId} detail={detail} onChanged={onChanged} />
      <SplitsPanel datasetId={datasetId} detail={detail} onChanged={onChanged} />
      <ExportPanel datasetId={datasetId} imageCount={detail.imageCount} />
    </>
  );
}
