/** One sample of one series as any Prometheus transport delivers it (scrape, remote-write, metrics service). */
export interface PromSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  timestampMs?: number;
  /**
   * When the series (re)started, if the transport knows (OpenMetrics `_created`; a metrics-service counter
   * first sent mid-stream): first seen and started after meshlens did, it counts whole; a change is a reset.
   */
  startMs?: number;
}
/** One delivery from one source: a scrape of a target, one remote-write request, … */
export interface SampleBatch {
  /** Identity of the series' origin for counter state (target URL, or 'remote-write'); series key = source + name + labels. */
  source: string;
  /** Who reported them when the transport knows (a scrape target's configured labels: workload, namespace, mesh…), else undefined. */
  reporter?: Readonly<Record<string, string>>;
  samples: readonly PromSample[];
  receivedAtMs: number;
  /**
   * Histograms hold only this delivery's observations (Envoy's metrics service sends each flush's own), so
   * they are increases as they are; counters stay cumulative. Default false: Prometheus histograms are cumulative.
   */
  histogramsAreDeltas?: boolean;
  /**
   * The transport hands out the same labels object for a series every time (a scrape's SeriesTexts,
   * remote-write's label sets) and never changes one: the converter may keep what it worked out per object.
   */
  labelsReused?: boolean;
}
