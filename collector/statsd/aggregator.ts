// StatsD metrics folded per flush interval, per sender and series (name + type + tags), as a StatsD
// server does: counters summed (each value counts 1/rate times), timer / histogram / distribution values
// into a LatencyHistogram (each weighs 1/rate), gauges keep their last value (a relative `+n`/`-n` changes
// the previous one, kept across intervals), sets count their distinct members. StatsD counters are
// already deltas (mesh-telemetry.md §8): no cumulative state is needed, an interval's sum is its increase.
//
// Memory is bounded: at most maxSeries series per interval (and as many gauges kept across intervals);
// a line for a new series past that is refused (add() and takeLine() say 'full') and the caller decides: drop and
// count it (UDP), or hold it and pause the sender until the next flush (TCP).
import { LatencyHistogram } from '../service-graph/histogram.ts';
import { type MalformedReason, type StatsdMetric, type StatsdType, type Tags, metricTags, parseLine, readPlainDecimal } from './line.ts';

export interface AggregatorOptions {
  maxSeries: number;
  /** Distinct members counted per set and interval at most (the rest are not told apart). */
  maxSetMembers?: number;
}

interface SeriesBase {
  /** Who sent it: the sender's address. */
  sender: string;
  name: string;
  tags: Tags;
  /** A DogStatsD `|T` timestamp (seconds) the lines carried; null for "now" (the flush). */
  timestampS: number | null;
}

export type AggregatedSeries =
  | (SeriesBase & { type: 'c'; /** Sum of values × 1/rate. */ count: number })
  | (SeriesBase & { type: 'ms' | 'h' | 'd'; histogram: LatencyHistogram; /** Sum of values × 1/rate. */ sum: number })
  | (SeriesBase & { type: 'g'; value: number })
  | (SeriesBase & { type: 's'; /** Distinct members (at most maxSetMembers). */ distinct: number });

export type AddResult = 'added' | 'full';

/**
 * What became of one line given to takeLine(): aggregated ('added'), refused by the series bound ('full'),
 * skipped because `keep` said no series of its name and type is read ('ignored'), or what parseLine() calls
 * a line that is no metric.
 */
export type LineOutcome = AddResult | 'ignored' | 'event' | 'service_check' | 'empty' | MalformedReason;

/**
 * Whether a line of this type, whose name (as written, Telegraf tags and all) is text[nameStart, nameEnd),
 * may be read by anyone: when not, takeLine() counts it 'ignored' without reading its value, tags or fields.
 */
export type KeepLine = (type: StatsdType, text: string, nameStart: number, nameEnd: number) => boolean;

const DEFAULT_MAX_SET_MEMBERS = 10_000;

/**
 * One series of one sender: its name and its line's shape, the rest of the line without the value —
 * `|<type>[|#<tags>][|T<seconds>]`: the type, the tags as written and the timestamp. Series of one sender
 * are found by shape (a plain line's own text from its first '|' to its end) and then by name, so a line of
 * an open series is found without building a key. '\n' cannot occur in a line, so no name or tag can
 * forge another series. Tags are taken as written: the same tags in another
 * order make another series (Envoy and client libraries write them in one order); their sums meet again in
 * the edges.
 */
class OpenSeries implements SeriesBase {
  /** The next series of the same sender and shape. */
  next: OpenSeries | undefined = undefined;
  /** The series of the sender's plain line that came after this one's last time (see SenderSeries). */
  follower: OpenSeries | undefined = undefined;
  /** c: the sum of values × 1/rate. */
  count = 0;
  /** ms, h, d: the samples, each weighing 1/rate, and their weighted sum. */
  readonly histogram: LatencyHistogram | undefined;
  sum = 0;
  /** g: the last value, under `gaugeKey` in the values kept across intervals. */
  value = 0;
  gaugeKey = '';
  /** s: the distinct members. */
  readonly members: Set<string> | undefined;

  // One class for every type, so that reading a line's series is one shape for V8 (objects built by spreading
  // a common base took ~30 times as long to reach through `follower`).
  constructor(
    readonly sender: string,
    readonly name: string,
    readonly tags: Tags,
    readonly timestampS: number | null,
    readonly shape: string,
    readonly type: StatsdType,
  ) {
    this.histogram = type === 'ms' || type === 'h' || type === 'd' ? new LatencyHistogram() : undefined;
    this.members = type === 's' ? new Set() : undefined;
  }
}

/**
 * The series of one sender and shape, in the order they opened. DogStatsD senders have few names per shape
 * (the tags tell series apart): a chain walked by name is cheapest. Plain StatsD has one shape per type
 * for all names: past CHAIN_LIMIT the names are also kept in a Map.
 */
interface ShapeSeries {
  first: OpenSeries;
  last: OpenSeries;
  length: number;
  byName: Map<string, OpenSeries> | undefined;
}

const CHAIN_LIMIT = 8;

/**
 * One sender's series by shape, and the series of its last plain line. A proxy sends its stats in the same
 * order at every flush of its own, so the series that followed a line's series last time is tried first:
 * comparing the text with its name and shape costs less than hashing the shape for a lookup.
 */
interface SenderSeries {
  byShape: Map<string, ShapeSeries>;
  previous: OpenSeries | undefined;
}

/**
 * A compact copy of `text`: a series keeps its name and shape as flat strings of their own, so comparing a
 * line's slices with them is one byte comparison (a joined or sliced string is compared piece by piece, in
 * the runtime), and no series keeps the packet it was first read from alive. JSON's round trip copies
 * any string exactly.
 */
function compactCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/** The shape of a parsed metric's line: what a plain line's text is from its first '|' on. */
function shapeOf(metric: StatsdMetric): string {
  const tags = metric.tagText === '' ? '' : `|#${metric.tagText}`;
  return metric.timestampS === null ? `|${metric.type}${tags}` : `|${metric.type}${tags}|T${metric.timestampS}`;
}

/**
 * A line parseLine() would read as its text says: one name without Telegraf tags or surrounding blanks, no
 * field after the type but non-empty `|#tags` holding no '|', no '\r' — so text[first '|', end) is its shape.
 */
function isPlain(text: string, start: number, colon: number, typeEnd: number, end: number): boolean {
  if (typeEnd !== end) {
    if (text.charCodeAt(typeEnd + 1) !== 35 /* # */ || typeEnd + 2 >= end) return false;
    const pipe = text.indexOf('|', typeEnd + 1);
    if (pipe >= 0 && pipe < end) return false;
  }
  const comma = text.indexOf(',', start);
  if (comma >= 0 && comma < colon) return false;
  const first = text.charCodeAt(start);
  const last = text.charCodeAt(colon - 1);
  return first > 32 && first < 127 && last > 32 && last < 127 && text.charCodeAt(end - 1) !== 13 /* \r */;
}

/** The one-letter type whose char code this is. */
function oneLetterType(code: number): StatsdType | undefined {
  switch (code) {
    case 99:
      return 'c';
    case 103:
      return 'g';
    case 104:
      return 'h';
    case 100:
      return 'd';
    case 115:
      return 's';
    default:
      return undefined;
  }
}

export class StatsdAggregator {
  /** Sender → shape → the series of that shape, chained by name. */
  private series = new Map<string, SenderSeries>();
  private seriesCount = 0;
  /** Gauges' last values, across intervals (least recently updated first). */
  private readonly gauges = new Map<string, number>();
  private readonly maxSeries: number;
  private readonly maxSetMembers: number;

  constructor(options: AggregatorOptions) {
    this.maxSeries = options.maxSeries;
    this.maxSetMembers = options.maxSetMembers ?? DEFAULT_MAX_SET_MEMBERS;
  }

  /** Series in the current interval. */
  get size(): number {
    return this.seriesCount;
  }

  get full(): boolean {
    return this.seriesCount >= this.maxSeries;
  }

  /**
   * Reads and folds in the line text[start, end) (no '\n'), as parseLine() + add() would. A plain line — one
   * value, no field but `|#tags`, the name without Telegraf tags — of a series already open is read in place:
   * its value parsed from the text and added to the series, nothing allocated but the shape's slice. Any
   * other line goes through parseLine(). With `keep`, a line whose name and type `keep` refuses is 'ignored'
   * once those two are read (its value and fields are not checked).
   */
  takeLine(text: string, start: number, end: number, sender: string, keep?: KeepLine): LineOutcome {
    const colon = text.indexOf(':', start);
    const pipe = colon < 0 || colon >= end ? -1 : text.indexOf('|', colon + 1);
    // Events (`_e{`, `_sc|`), lines without a name, a value or a type: parseLine() says what they are.
    if (pipe < 0 || pipe >= end || colon === start || text.charCodeAt(start) === 95 /* _ */) return this.takeParsed(text, start, end, sender);
    let typeEnd = text.indexOf('|', pipe + 1);
    if (typeEnd < 0 || typeEnd > end) typeEnd = end;
    let type: StatsdType | undefined;
    if (typeEnd === pipe + 2) type = oneLetterType(text.charCodeAt(pipe + 1));
    else if (typeEnd === pipe + 3 && text.charCodeAt(pipe + 1) === 109 /* m */ && text.charCodeAt(pipe + 2) === 115 /* s */) type = 'ms';
    if (type === undefined) return this.takeParsed(text, start, end, sender);
    if (keep !== undefined && !keep(type, text, start, colon)) return 'ignored';

    if (type === 's' || !isPlain(text, start, colon, typeEnd, end)) return this.takeParsed(text, start, end, sender);
    const senderSeries = this.series.get(sender);
    if (senderSeries === undefined) return this.takeParsed(text, start, end, sender);
    // Slices compared with === (V8 compares the bytes at once; startsWith(x, position) goes char by char).
    const name = text.slice(start, colon);
    const shape = text.slice(pipe, end);
    let series = senderSeries.previous?.follower;
    if (series === undefined || series.name !== name || series.shape !== shape) {
      const sameShape = senderSeries.byShape.get(shape);
      if (sameShape === undefined) series = undefined;
      else if (sameShape.byName !== undefined) series = sameShape.byName.get(name);
      else {
        series = sameShape.first;
        while (series !== undefined && series.name !== name) series = series.next;
      }
      if (series === undefined) {
        senderSeries.previous = undefined;
        return this.takeParsed(text, start, end, sender);
      }
      if (senderSeries.previous !== undefined) senderSeries.previous.follower = series;
    }
    const value = readPlainDecimal(text, colon + 1, pipe);
    if (value !== value) return this.takeParsed(text, start, end, sender); // several values, an exponent, or bad
    senderSeries.previous = series;
    switch (series.type) {
      case 'c':
        series.count += value;
        break;
      case 'ms':
      case 'h':
      case 'd':
        series.histogram?.add(value, 1);
        series.sum += value;
        break;
      case 'g': {
        const sign = text.charCodeAt(colon + 1);
        series.value = sign === 43 /* + */ || sign === 45 /* - */ ? series.value + value : value;
        this.gauges.delete(series.gaugeKey);
        this.gauges.set(series.gaugeKey, series.value);
        break;
      }
      case 's':
        break; // Not plain: read above by parseLine().
    }
    return 'added';
  }

  private takeParsed(text: string, start: number, end: number, sender: string): LineOutcome {
    const parsed = parseLine(text.slice(start, end));
    switch (parsed.kind) {
      case 'metric':
        return this.add(parsed.metric, sender);
      case 'malformed':
        return parsed.reason;
      default:
        return parsed.kind;
    }
  }

  /** Folds one metric line in; 'full' (and nothing changed) when it would open a series past maxSeries. */
  add(metric: StatsdMetric, sender: string): AddResult {
    const shape = compactCopy(shapeOf(metric));
    let senderSeries = this.series.get(sender);
    if (senderSeries === undefined) {
      if (this.seriesCount >= this.maxSeries) return 'full';
      this.series.set(sender, (senderSeries = { byShape: new Map(), previous: undefined }));
    }
    const byShape = senderSeries.byShape;
    const sameShape = byShape.get(shape);
    let series: OpenSeries | undefined;
    if (sameShape?.byName !== undefined) {
      series = sameShape.byName.get(metric.name);
    } else {
      series = sameShape?.first;
      while (series !== undefined && series.name !== metric.name) series = series.next;
    }
    if (series === undefined) {
      if (this.seriesCount >= this.maxSeries) return 'full';
      series = this.open(metric, sender, shape);
      if (sameShape === undefined) {
        byShape.set(shape, { first: series, last: series, length: 1, byName: undefined });
      } else {
        // Appended, so that drain() gives the series in the order they opened.
        sameShape.last.next = series;
        sameShape.last = series;
        sameShape.length++;
        if (sameShape.byName !== undefined) sameShape.byName.set(series.name, series);
        else if (sameShape.length > CHAIN_LIMIT) {
          sameShape.byName = new Map();
          for (let one: OpenSeries | undefined = sameShape.first; one !== undefined; one = one.next) sameShape.byName.set(one.name, one);
        }
      }
      this.seriesCount++;
    }
    const weight = 1 / metric.sampleRate;
    switch (metric.type) {
      case 'c':
        for (const value of metric.values) series.count += value * weight;
        break;
      case 'ms':
      case 'h':
      case 'd':
        for (const value of metric.values) {
          series.histogram?.add(value, weight);
          series.sum += value * weight;
        }
        break;
      case 'g':
        for (const { value, relative } of metric.values) series.value = relative ? series.value + value : value;
        this.gauges.delete(series.gaugeKey);
        this.gauges.set(series.gaugeKey, series.value);
        break;
      case 's':
        if (series.members !== undefined && series.members.size < this.maxSetMembers) series.members.add(metric.member);
        break;
    }
    return 'added';
  }

  /** The interval's series; the next interval starts empty (gauges keep their last value for `+n`/`-n`). */
  drain(): AggregatedSeries[] {
    const drained: AggregatedSeries[] = [];
    for (const { byShape } of this.series.values()) {
      for (const sameShape of byShape.values()) {
        for (let series: OpenSeries | undefined = sameShape.first; series !== undefined; series = series.next) {
          const { sender, name, tags, timestampS, type, histogram, members } = series;
          if (type === 'c') drained.push({ sender, name, tags, timestampS, type, count: series.count });
          else if (type === 'g') drained.push({ sender, name, tags, timestampS, type, value: series.value });
          else if (type === 's') drained.push({ sender, name, tags, timestampS, type, distinct: members?.size ?? 0 });
          else if (histogram !== undefined) drained.push({ sender, name, tags, timestampS, type, histogram, sum: series.sum });
        }
      }
    }
    this.series = new Map();
    this.seriesCount = 0;
    // Gauges not updated for as many series as the bound holds are forgotten first.
    while (this.gauges.size > this.maxSeries) this.gauges.delete(this.gauges.keys().next().value!);
    return drained;
  }

  private open(metric: StatsdMetric, sender: string, shape: string): OpenSeries {
    const series = new OpenSeries(sender, compactCopy(metric.name), metricTags(metric), metric.timestampS, shape, metric.type);
    if (metric.type === 'g') {
      series.gaugeKey = `${sender}\n${metric.name}${shape}`;
      series.value = this.gauges.get(series.gaugeKey) ?? 0;
    }
    return series;
  }
}
