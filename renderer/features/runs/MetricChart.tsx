import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const SERIES_COLORS = ['#6ea8fe', '#f2c15f', '#5fd39a', '#f47174', '#c792ea', '#4fd6d6', '#ff9e64', '#b4be82'];

export interface ChartSeries {
  label: string;
  color?: string;
}

interface Props {
  title: string;
  /** The chart container's test id ("chart-loss"). */
  testId: string;
  /** x (steps) then one y array per series, aligned (uPlot.join for series with their own steps). */
  data: uPlot.AlignedData;
  series: ChartSeries[];
  /** Bumped whenever the arrays in `data` grew in place: the chart redraws without being rebuilt. */
  version: number;
  /** Formats y tick labels and the legend values. */
  format?: (value: number) => string;
  yRange?: [number, number];
  height?: number;
}

const countPoints = (values: ArrayLike<number | null | undefined> | undefined): number => {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== null && values[i] !== undefined) n++;
  return n;
};

const AXIS = { stroke: '#9098a9', grid: { stroke: 'rgba(58, 66, 82, 0.6)', width: 1 }, ticks: { stroke: '#3a4252', width: 1 } };

/**
 * A uPlot line chart of one metric against the step. Built once per series layout; new points
 * arrive by growing the arrays and bumping `version` (setData on a canvas: fast with 100k points).
 */
export function MetricChart({ title, testId, data, series, version, format, yRange, height = 200 }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const layout = series.map((s) => `${s.label}|${s.color ?? ''}`).join('\n');

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const fmt = format ?? ((v: number) => String(Number(v.toPrecision(4))));
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false }, points: { size: 6 } },
      scales: { x: { time: false }, y: yRange ? { range: yRange } : { auto: true } },
      axes: [
        { ...AXIS, label: undefined, size: 32 },
        { ...AXIS, size: 60, values: (_u, ticks) => ticks.map((t) => fmt(t)) },
      ],
      series: [
        { label: 'step' },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color ?? SERIES_COLORS[i % SERIES_COLORS.length],
          width: 1.5,
          spanGaps: true,
          // Sparse series (a few evaluations) show their points; dense ones only the line.
          points: { size: 5, show: (u: uPlot, si: number) => countPoints(u.data[si]) <= 20 },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : fmt(v)),
        })),
      ],
    };
    const chart = new uPlot(opts, [[], ...series.map(() => [])], el);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      const width = Math.max(200, el.clientWidth);
      if (width !== chart.width) chart.setSize({ width, height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // The chart is rebuilt only when its series layout changes; data flows through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [layout, height, yRange?.[0], yRange?.[1]]);


  useEffect(() => {
    plot.current?.setData(data, true);
    let points = 0;
    for (let s = 1; s < data.length; s++) points += countPoints(data[s]);
    wrap.current?.setAttribute('data-points', String(points));
  }, [data, version, layout]);

  return (
    <figure className="chart" data-testid={testId} ref={wrap} aria-label={`${title} chart`}>
      <figcaption className="chart-title">{title}</figcaption>
      <div className="chart-plot" ref={host} />
    </figure>
  );
}
