// npm run bench:prom-cpu — the Prometheus sample path's CPU and allocation per sample, without network or
// storage: what a scrape costs once its body is in (parse, the series-born check, conversion to edge
// increments) and what a remote-write request costs once it is in (snappy + WriteRequest decode,
// conversion). Pages are test/bench/prom-pages.ts' proxies (Istio sidecar, Linkerd proxy, Traefik), about
// 2,000 series each; every measured round is a new scrape of every target (values grown by 15 s of traffic)
// against converter state the earlier rounds left, as in a collector that has been running a while.
//
//   --targets N   pages per mesh per round (default 50: 100,000 samples per mesh per round)
//   --rounds N    measured rounds per stage after one warm-up round (default 3; the median is shown)
//   --only a,b    stages whose name contains one of these (default: all)
//
// CPU is this process's user + system time; allocation is V8 heap growth plus what every GC in the stage
// freed (v8.GCProfiler), as in bench:graph-cpu. "µs/sample" divides by every sample of the input, read or not.
import { parseArgs } from 'node:util';
import { PrometheusEdgeConverter, readsSample } from '../../collector/prometheus/mesh-series.ts';
import type { SampleBatch } from '../../collector/prometheus/samples.ts';
import { type ParsedExposition, SeriesTexts, parseExposition } from '../../collector/prometheus/text-format.ts';
import { RemoteWriteLabelSets, decodeRemoteWrite } from '../../collector/receivers/remote-write.ts';
import { seriesBornSince, sortedHashes } from '../../collector/receivers/prometheus-scrape.ts';
import { type MeshPage, page, remoteWriteRequests } from './prom-pages.ts';
import { type Measure, measureCpu as measure, median, requireExposedGc } from './cpu-measure.ts';

const { values: opts } = parseArgs({
  options: {
    targets: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const TARGETS = Number(opts.targets);
const ROUNDS = Number(opts.rounds);
const ONLY = opts.only?.split(',');
const T0 = Date.now() - 3_600_000;
const INTERVAL_MS = 15_000;
const MAX_BODY_BYTES = 64 << 20;
const log = (message: string) => process.stderr.write(`[bench:prom-cpu] ${message}\n`);
requireExposedGc('bench:prom-cpu');


/** One round's input: made outside the measurement, and how many samples it holds. */
interface Prepared {
  samples: number;
  run: () => void;
}

/** A stage: `prepare(step)` for each round in turn (step 0 is the warm-up, a baseline for converters). */
interface Stage {
  name: string;
  prepare: (step: number) => Prepared;
}

const url = (mesh: MeshPage, target: number) => `http://10.42.${target % 256}.${Math.floor(target / 256)}:${mesh === 'istio' ? 15090 : mesh === 'linkerd' ? 4191 : 8080}/metrics`;

/** Each target's URL and labels: the same objects every round, as the scraper's targets are. */
const targets = new Map<string, { url: string; labels: Record<string, string> }>();

function texts(mesh: MeshPage, step: number): Array<{ url: string; labels: Record<string, string>; text: string; samples: number }> {
  return Array.from({ length: TARGETS }, (_, target) => {
    const p = page(mesh, target, step);
    const id = url(mesh, target);
    let known = targets.get(id);
    if (known === undefined) targets.set(id, (known = { url: id, labels: p.targetLabels }));
    return { ...known, text: p.text, samples: p.series.length };
  });
}

const total = (items: ReadonlyArray<{ samples: number }>) => items.reduce((sum, item) => sum + item.samples, 0);

/** What the scraper runs on a body: only names the converter reads, the target's series texts kept between scrapes. */
function parser(): (url: string, text: string) => ParsedExposition {
  const texts = new Map<string, SeriesTexts>();
  return (url, text) => {
    let series = texts.get(url);
    if (series === undefined) texts.set(url, (series = new SeriesTexts()));
    return parseExposition(text, { format: 'text', reads: readsSample, series });
  };
}

function scrapeStages(mesh: MeshPage): Stage[] {
  // What the scraper does with one body: parse, remember its series, find the series born since the last scrape.
  const lastSeries = new Map<string, { hashes: Uint32Array; atMs: number }>();
  const converter = new PrometheusEdgeConverter({ maxSeries: 10_000_000 });
  const whole = new PrometheusEdgeConverter({ maxSeries: 10_000_000 });
  const wholeLast = new Map<string, { hashes: Uint32Array; atMs: number }>();
  const [parseOnly, parseBorn, parseConvert, parseWhole] = [parser(), parser(), parser(), parser()];
  const scrape = (body: { url: string; labels: Record<string, string>; text: string }, atMs: number, last: Map<string, { hashes: Uint32Array; atMs: number }>, parse: ReturnType<typeof parser>): SampleBatch[] => {
    const parsed = parse(body.url, body.text);
    const batch: SampleBatch = { source: body.url, reporter: body.labels, samples: parsed.samples, receivedAtMs: atMs, labelsReused: true };
    const previous = last.get(body.url);
    last.set(body.url, { hashes: sortedHashes(batch.samples), atMs });
    const born = previous && seriesBornSince(previous, batch);
    return born ? [born, batch] : [batch];
  };
  return [
    {
      name: `${mesh}: parse`,
      prepare: (step) => {
        const bodies = texts(mesh, step);
        return { samples: total(bodies), run: () => bodies.forEach((b) => parseOnly(b.url, b.text)) };
      },
    },
    {
      name: `${mesh}: parse+born`,
      prepare: (step) => {
        const bodies = texts(mesh, step);
        return { samples: total(bodies), run: () => bodies.forEach((b) => scrape(b, T0 + step * INTERVAL_MS, lastSeries, parseBorn)) };
      },
    },
    {
      name: `${mesh}: convert`,
      prepare: (step) => {
        const bodies = texts(mesh, step);
        const batches = bodies.map((b) => ({ source: b.url, reporter: b.labels, samples: parseConvert(b.url, b.text).samples, receivedAtMs: T0 + step * INTERVAL_MS, labelsReused: true }));
        return { samples: total(bodies), run: () => batches.forEach((b) => converter.convert(b)) };
      },
    },
    {
      name: `${mesh}: scrape total`,
      prepare: (step) => {
        const bodies = texts(mesh, step);
        return {
          samples: total(bodies),
          run: () => {
            for (const body of bodies) for (const batch of scrape(body, T0 + step * INTERVAL_MS, wholeLast, parseWhole)) whole.convert(batch);
          },
        };
      },
    },
  ];
}

function remoteWriteStages(): Stage[] {
  const meshes: MeshPage[] = ['istio', 'linkerd', 'traefik'];
  const requests = (step: number) => {
    const pages = meshes.flatMap((mesh) => Array.from({ length: Math.max(1, Math.round(TARGETS / 3)) }, (_, target) => page(mesh, target, step)));
    return remoteWriteRequests(pages, T0 + step * INTERVAL_MS);
  };
  const converter = new PrometheusEdgeConverter({ maxSeries: 10_000_000 });
  // As registerRemoteWrite decodes: only names the converter reads, label sets kept between requests.
  const decodeOnly = { reads: readsSample, labelSets: new RemoteWriteLabelSets(10_000_000) };
  const decodeConvert = { reads: readsSample, labelSets: new RemoteWriteLabelSets(10_000_000) };
  return [
    {
      name: 'remote-write: decode',
      prepare: (step) => {
        const { bodies, samples } = requests(step);
        return { samples, run: () => bodies.forEach((body) => decodeRemoteWrite(body, MAX_BODY_BYTES, decodeOnly)) };
      },
    },
    {
      name: 'remote-write: decode+convert',
      prepare: (step) => {
        const { bodies, samples } = requests(step);
        return {
          samples,
          run: () => {
            for (const body of bodies) converter.convert({ source: 'remote-write', samples: decodeRemoteWrite(body, MAX_BODY_BYTES, decodeConvert).samples, receivedAtMs: T0 + step * INTERVAL_MS, labelsReused: true });
          },
        };
      },
    },
  ];
}

async function main(): Promise<void> {
  const stages = [...scrapeStages('istio'), ...scrapeStages('linkerd'), ...scrapeStages('traefik'), ...remoteWriteStages()].filter((s) => ONLY === undefined || ONLY.some((o) => s.name.includes(o)));
  const sizes = (['istio', 'linkerd', 'traefik'] as const).map((mesh) => {
    const p = page(mesh, 0, 0);
    return `${mesh} ${p.series.length} series, ${Math.round(p.text.length / 1024)} KiB`;
  });
  log(`${TARGETS} targets per mesh; one page: ${sizes.join('; ')}`);
  const results: Record<string, { samples: number; cpuMicrosPerSample: number; allocatedBytesPerSample: number; samplesPerCpuSecond: number }> = {};
  for (const stage of stages) {
    stage.prepare(0).run(); // warm-up, and the converters' baselines
    const rounds: Measure[] = [];
    let samples = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const prepared = stage.prepare(round);
      samples = prepared.samples;
      rounds.push(await measure(prepared.run));
    }
    const cpuMicrosPerSample = (median(rounds.map((r) => r.cpuMs)) * 1000) / samples;
    const figures = {
      samples,
      cpuMicrosPerSample: Math.round(cpuMicrosPerSample * 100) / 100,
      allocatedBytesPerSample: Math.round(median(rounds.map((r) => r.allocatedBytes)) / samples),
      samplesPerCpuSecond: Math.round(1e6 / cpuMicrosPerSample),
    };
    results[stage.name] = figures;
    log(`${stage.name.padEnd(30)} ${figures.cpuMicrosPerSample.toFixed(2).padStart(7)} CPU µs/sample  ${String(figures.allocatedBytesPerSample).padStart(6)} B/sample  ${figures.samplesPerCpuSecond.toLocaleString().padStart(10)} samples/CPU-s`);
  }
  console.log(JSON.stringify({ targets: TARGETS, rounds: ROUNDS, stages: results }, null, 2));
}

await main();
