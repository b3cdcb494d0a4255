// Prometheus exposition parser: the text format 0.0.4 and OpenMetrics 1.0 (mesh-telemetry.md §7.2), as
// scraped proxies serve them — Envoy/Istio `/stats/prometheus`, Linkerd's hybrid endpoint (text families,
// then OpenMetrics-style ones with `# UNIT` and a final `# EOF`), Kuma, Traefik, prom-client.
//
// One bad line is counted and skipped; the rest of the scrape still counts. A line is one sample:
// its name, labels (escapes undone), value and optional timestamp. Exemplars (` # {…} v`) are dropped.
// OpenMetrics `<family>_created` lines are start times, not values: they are returned apart (`created`),
// so a counter's `_created` never reaches the counter pipeline as if it were a series of its own.
import type { PromSample } from './samples.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'unknown' | 'info' | 'stateset' | 'gaugehistogram';

const METRIC_TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped', 'unknown', 'info', 'stateset', 'gaugehistogram']);

/** Which grammar the body is in: from the response's Content-Type (OpenMetrics timestamps are seconds, text ones ms). */
export type ExpositionFormat = 'text' | 'openmetrics';

export interface ParseError {
  /** 1-based line number in the body. */
  line: number;
  message: string;
}

export interface MetricFamily {
  type: MetricType;
  help?: string;
  unit?: string;
}

export interface ParsedExposition {
  samples: PromSample[];
  /** OpenMetrics `_created` samples of counters, histograms and summaries (value = start time, seconds). */
  created: PromSample[];
  /** Families by name as `# TYPE` / `# HELP` / `# UNIT` declared them. */
  families: Map<string, MetricFamily>;
  /** Bad lines, all counted; only the first `maxErrorDetails` kept with their reason. */
  errorCount: number;
  errors: ParseError[];
  /** Whether a `# EOF` line ended the body. */
  sawEof: boolean;
  /** Sample lines of names `reads` refused: not parsed past their name, neither samples nor bad lines. */
  skipped: number;
}

export interface ParseOptions {
  format?: ExpositionFormat;
  /** Reasons kept for the first this many bad lines (all are counted). Default 20. */
  maxErrorDetails?: number;
  /**
   * Only sample lines whose metric name this accepts are read; the rest are counted in `skipped` without
   * their labels or value being parsed (or checked). Default: every line is read.
   */
  reads?: (name: string) => boolean;
  /** The source's series from its previous parse (see SeriesTexts): lines printed as before are not parsed again. */
  series?: SeriesTexts;
}

/** The format a Content-Type names; anything not OpenMetrics is read as text 0.0.4, as Prometheus does. */
export function formatOf(contentType: string | null | undefined): ExpositionFormat {
  return contentType !== null && contentType !== undefined && /^\s*application\/openmetrics-text\b/i.test(contentType) ? 'openmetrics' : 'text';
}

/** Suffixes that belong to a family of the given types (`foo_bucket` is a sample of histogram `foo`). */
const FAMILY_SUFFIXES: ReadonlyArray<readonly [string, ReadonlySet<string>]> = [
  ['_total', new Set(['counter'])],
  ['_created', new Set(['counter', 'histogram', 'summary', 'gaugehistogram'])],
  ['_bucket', new Set(['histogram', 'gaugehistogram'])],
  ['_count', new Set(['histogram', 'summary'])],
  ['_sum', new Set(['histogram', 'summary'])],
  ['_gcount', new Set(['gaugehistogram'])],
  ['_gsum', new Set(['gaugehistogram'])],
  ['_info', new Set(['info'])],
];

/** The family a sample name belongs to (its declared name, or its name minus a type suffix), if declared. */
export function familyOf(name: string, families: ReadonlyMap<string, MetricFamily>): { name: string; family: MetricFamily } | undefined {
  const exact = families.get(name);
  if (exact) return { name, family: exact };
  for (const [suffix, types] of FAMILY_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const family = families.get(base);
    if (family && types.has(family.type)) return { name: base, family };
  }
  return undefined;
}

class LineError extends Error {}

export function parseExposition(body: string, options: ParseOptions = {}): ParsedExposition {
  const format = options.format ?? 'text';
  const maxErrorDetails = options.maxErrorDetails ?? 20;
  const result: ParsedExposition = { samples: [], created: [], families: new Map(), errorCount: 0, errors: [], sawEof: false, skipped: 0 };
  const reads = options.reads;
  const series = options.series;
  series?.beginParse();
  const fail = (line: number, message: string) => {
    result.errorCount++;
    if (result.errors.length < maxErrorDetails) result.errors.push({ line, message });
  };
  let lineNumber = 0;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf('\n', start);
    if (end === -1) end = body.length;
    lineNumber++;
    let line = body.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (result.sawEof) {
      if (line.trim() !== '') {
        fail(lineNumber, 'content after # EOF');
        break;
      }
      continue;
    }
    const trimmed = line.trimStart();
    if (trimmed === '') continue;
    try {
      if (trimmed.startsWith('#')) readComment(trimmed, result);
      else readSample(trimmed, format, result, reads, series);
    } catch (error) {
      if (!(error instanceof LineError)) throw error;
      fail(lineNumber, error.message);
    }
  }
  series?.endParse();
  return result;
}

function readComment(line: string, result: ParsedExposition): void {
  if (line === '# EOF') {
    result.sawEof = true;
    return;
  }
  const match = /^#[ \t]+(HELP|TYPE|UNIT)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  if (!match) return; // any other comment is free text
  const [, keyword, rawName, rest = ''] = match;
  const name = rawName!.startsWith('"') ? unquoteName(rawName!) : rawName!;
  if (!isMetricName(name) && !rawName!.startsWith('"')) throw new LineError(`# ${keyword} names an invalid metric "${name}"`);
  const family = result.families.get(name) ?? { type: 'untyped' as MetricType };
  if (keyword === 'TYPE') {
    const type = rest.trim();
    if (!METRIC_TYPES.has(type)) throw new LineError(`unknown metric type "${type}" for ${name}`);
    family.type = type as MetricType;
  } else if (keyword === 'HELP') {
    family.help = unescapeHelp(rest);
  } else {
    family.unit = rest.trim();
  }
  result.families.set(name, family);
}

/** Whether the line being read has a backslash (an escape somewhere); without one, quoted strings need no unescaping. */
let lineHasBackslash = true;

function readSample(line: string, format: ExpositionFormat, result: ParsedExposition, reads: ((name: string) => boolean) | undefined, series: SeriesTexts | undefined): void {
  let position = 0;
  let name = '';
  if (line.charCodeAt(0) !== OPEN_BRACE) {
    while (position < line.length && isNameChar(line.charCodeAt(position), position === 0)) position++;
    name = line.slice(0, position);
    if (name === '') throw new LineError(`a sample must start with a metric name, got "${preview(line)}"`);
    if (reads !== undefined && !reads(name)) {
      result.skipped++;
      return;
    }
  }
  lineHasBackslash = line.includes('\\');
  let labels: Readonly<Record<string, string>>;
  // The text format allows blanks between the name and its label set.
  if (name !== '' && line[skipBlanks(line, position)] === '{') position = skipBlanks(line, position);
  const cached = series !== undefined && name !== '' && line.charCodeAt(position) === OPEN_BRACE;
  let known = cached ? series!.next(line) : undefined;
  const textEnd = known !== undefined ? known.text.length : cached ? labelSetEnd(line, position) : -1;
  if (known !== undefined) {
    ({ name, labels } = known);
    position = textEnd;
  } else if (textEnd > 0 && (known = series!.lookUp(line.slice(0, textEnd))) !== undefined) {
    ({ name, labels } = known);
    position = textEnd;
  } else if (line.charCodeAt(position) === OPEN_BRACE) {
    // A new series of a source parsed again later is kept: read it from its own copy of the text, so that
    // what is kept holds on to no part of this body.
    const text = textEnd > 0 ? ownCopy(line.slice(0, textEnd)) : line;
    const own: Record<string, string> = {};
    position = readLabels(text, position + 1, own, name === '');
    if (nameInBraces !== undefined) name = nameInBraces;
    if (name === '') throw new LineError('a sample must name its metric');
    if (textEnd > 0) {
      name = text.slice(0, name.length);
      series!.remember(text, name, own);
    }
    labels = own;
  } else {
    labels = {};
  }
  const next = line.charCodeAt(position);
  if (position < line.length && next !== 32 && next !== 9) throw new LineError(`unexpected "${preview(line.slice(position))}" after ${name}`);
  // Value, optional timestamp; exemplars and anything after a ` # ` are not part of the sample.
  const valueText = nextField(line, position);
  if (valueText === undefined) throw new LineError(`${name} has no value`);
  const timestampText = nextField(line, fieldEnd);
  if (timestampText !== undefined && nextField(line, fieldEnd) !== undefined) {
    throw new LineError(`${name} has more than a value and a timestamp: "${preview(line.slice(position).trim())}"`);
  }
  const value = parseValue(valueText);
  if (value === undefined) throw new LineError(`${name} has a value that is not a number: "${valueText}"`);
  const sample: { name: string; labels: Readonly<Record<string, string>>; value: number; timestampMs?: number } = { name, labels, value };
  if (timestampText !== undefined) {
    const timestampMs = parseTimestampMs(timestampText, format);
    if (timestampMs === undefined) throw new LineError(`${name} has a timestamp that is not one: "${timestampText}"`);
    sample.timestampMs = timestampMs;
  }
  if (name.endsWith('_created') && familyOf(name, result.families)?.name === name.slice(0, -'_created'.length)) result.created.push(sample);
  else result.samples.push(sample);
}

/**
 * One source's series as its latest parse printed them (`name{…}`), for a source parsed again and again (a
 * scrape target): a line printed as before reuses that sample's name and labels objects instead of reading
 * its labels anew, so work downstream can be kept per series object. Compared as text: the same label set
 * printed in another order is read anew (and is still the same series to whoever compares labels). Holds
 * the series of the latest parse only, and no more than `budget` allows (shared by all of a scraper's targets:
 * past it, new series are read anew each time). Label objects handed out are shared between parses: never
 * change them.
 */
export class SeriesTexts {
  private readonly byText = new Map<string, KnownSeries>();

  constructor(private readonly budget: { left: number } = { left: Number.POSITIVE_INFINITY }) {}
  /** The series in the order the previous parse met them, and the current parse's so far. */
  private previous: KnownSeries[] = [];
  private current: KnownSeries[] = [];
  /** Where in `previous` the next line is expected: a page mostly prints the same series in the same order. */
  private cursor = 0;

  get size(): number {
    return this.byText.size;
  }

  beginParse(): void {
    this.current = [];
    this.cursor = 0;
  }

  /** Forgets the series the parse just ended did not have. */
  endParse(): void {
    const order = this.current;
    let distinct = 0;
    for (const series of order) {
      if (series.index === COUNTED) continue;
      series.index = COUNTED;
      distinct++;
    }
    for (let i = 0; i < order.length; i++) order[i]!.index = i;
    // Series not met this time still point at a place in the old order: not theirs in the new one.
    if (this.byText.size > distinct) {
      for (const [text, series] of this.byText) {
        if (order[series.index] === series) continue;
        this.byText.delete(text);
        this.budget.left++;
      }
    }
    this.previous = order;
  }

  /** Forgets every series (the source went away), giving their room back to the budget. */
  clear(): void {
    this.budget.left += this.byText.size;
    this.byText.clear();
    this.previous = [];
    this.current = [];
  }

  /**
   * The series the line starts with when it is the one expected next (the line after the previous one's
   * in the last parse): a comparison of the text, no label set to find and no hash to compute.
   */
  next(line: string): KnownSeries | undefined {
    const expected = this.previous[this.cursor];
    // (A slice compared is far quicker than startsWith on long strings.)
    if (expected === undefined || line.slice(0, expected.text.length) !== expected.text) return undefined;
    const after = line.charCodeAt(expected.text.length);
    if (after !== 32 && after !== 9) return undefined;
    return this.found(expected);
  }

  /** The series whose text (`name{…}`) this is, met anywhere in the last parse. */
  lookUp(text: string): KnownSeries | undefined {
    const series = this.byText.get(text);
    return series === undefined ? undefined : this.found(series);
  }

  remember(text: string, name: string, labels: Readonly<Record<string, string>>): void {
    let series = this.byText.get(text);
    if (series === undefined) {
      if (this.budget.left <= 0) return;
      this.budget.left--;
      this.byText.set(text, (series = { text, name, labels, index: -1 }));
    }
    this.current.push(series);
  }

  private found(series: KnownSeries): KnownSeries {
    this.current.push(series);
    if (series.index >= 0) this.cursor = series.index + 1;
    return series;
  }
}

/** A KnownSeries.index while endParse() counts distinct series. */
const COUNTED = -2;

interface KnownSeries {
  /** As printed: the name, blanks if any, the label set. */
  text: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Its place in the last parse's order (-1: new in this one). */
  index: number;
}

/** A copy of `text` that shares no memory with the string it was sliced from. */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** The position after the `}` closing the label set that opens at `open`, or -1 when it is not closed. */
function labelSetEnd(line: string, open: number): number {
  let position = open + 1;
  while (position < line.length) {
    const c = line.charCodeAt(position);
    if (c === CLOSE_BRACE) return position + 1;
    if (c === QUOTE) {
      let close = line.indexOf('"', position + 1);
      while (lineHasBackslash && close > 0 && isEscaped(line, close)) close = line.indexOf('"', close + 1);
      if (close < 0) return -1;
      position = close + 1;
      continue;
    }
    position++;
  }
  return -1;
}

/** Whether the character at `at` follows an odd number of backslashes. */
function isEscaped(line: string, at: number): boolean {
  let backslashes = 0;
  while (at - backslashes - 1 >= 0 && line.charCodeAt(at - backslashes - 1) === BACKSLASH) backslashes++;
  return backslashes % 2 === 1;
}

/** Where the last field nextField() returned ends. */
let fieldEnd = 0;

/** The blank-separated field from `from` on (undefined at the end of the line or at an exemplar's ` # `). */
function nextField(line: string, from: number): string | undefined {
  const start = skipBlanks(line, from);
  if (start >= line.length || line.charCodeAt(start) === 35 /* # */) return undefined;
  let end = start;
  while (end < line.length) {
    const c = line.charCodeAt(end);
    if (c === 32 || c === 9) break;
    end++;
  }
  fieldEnd = end;
  return line.slice(start, end);
}

/**
 * Reads `l="v",…}` from `from` (just after `{`) into `labels`; returns the position after `}`. Where the
 * metric name may be inside the braces (the quoted UTF-8 form `{"a.b", l="v"}`), a first bare quoted
 * string is that name: it is left in `nameInBraces`.
 */
function readLabels(line: string, from: number, labels: Record<string, string>, nameMayBeInside: boolean): number {
  let position = from;
  let first = true;
  nameInBraces = undefined;
  for (;;) {
    position = skipBlanks(line, position);
    const c = line.charCodeAt(position);
    if (c === CLOSE_BRACE) return position + 1;
    let labelName: string;
    if (c === QUOTE) {
      const quoted = readQuoted(line, position);
      position = skipBlanks(line, quotedEnd);
      if (line.charCodeAt(position) !== EQUALS) {
        if (!(first && nameMayBeInside)) throw new LineError(`label ${JSON.stringify(quoted)} has no value`);
        nameInBraces = quoted;
        first = false;
        position = afterLabel(line, position);
        continue;
      }
      labelName = quoted;
    } else {
      const startOfName = position;
      while (position < line.length && isLabelNameChar(line.charCodeAt(position), position === startOfName)) position++;
      labelName = line.slice(startOfName, position);
      if (labelName === '') throw new LineError(`bad label name at "${preview(line.slice(startOfName))}"`);
      position = skipBlanks(line, position);
      if (line.charCodeAt(position) !== EQUALS) throw new LineError(`label ${labelName} has no "="`);
    }
    position = skipBlanks(line, position + 1);
    if (line.charCodeAt(position) !== QUOTE) throw new LineError(`label ${labelName} has an unquoted value`);
    const value = readQuoted(line, position);
    if (Object.hasOwn(labels, labelName)) throw new LineError(`label ${labelName} appears twice`);
    // `__proto__` is a legal label name: define it rather than let the assignment set the prototype.
    if (labelName === '__proto__') Object.defineProperty(labels, labelName, { value, enumerable: true, writable: true, configurable: true });
    else labels[labelName] = value;
    first = false;
    position = afterLabel(line, quotedEnd);
  }
}

const QUOTE = 34;
const OPEN_BRACE = 123;
const COMMA = 44;
const EQUALS = 61;
const BACKSLASH = 92;
const CLOSE_BRACE = 125;

/** The metric name readLabels found inside the braces, if any. */
let nameInBraces: string | undefined;
/** Where the string readQuoted() last returned ended (after its closing quote). */
let quotedEnd = 0;

/** After a label: `,` (a trailing one is legal) or the closing `}`. */
function afterLabel(line: string, from: number): number {
  const position = skipBlanks(line, from);
  const c = line.charCodeAt(position);
  if (c === COMMA) return position + 1;
  if (c === CLOSE_BRACE) return position;
  throw new LineError(position >= line.length ? 'label set is not closed' : `expected "," or "}" at "${preview(line.slice(position))}"`);
}

/**
 * The double-quoted string starting at `from`, escapes `\\` `\"` `\n` undone (other backslashes kept as
 * they are); sets quotedEnd.
 */
function readQuoted(line: string, from: number): string {
  // Most lines have no backslash at all: each quoted string is then one slice.
  if (!lineHasBackslash) {
    const close = line.indexOf('"', from + 1);
    if (close === -1) throw new LineError('a quoted string is not closed');
    quotedEnd = close + 1;
    return line.slice(from + 1, close);
  }
  let text = '';
  let position = from + 1;
  let chunkStart = position;
  while (position < line.length) {
    const c = line.charCodeAt(position);
    if (c === QUOTE) {
      quotedEnd = position + 1;
      return text + line.slice(chunkStart, position);
    }
    if (c === BACKSLASH) {
      text += line.slice(chunkStart, position);
      const next = line[position + 1];
      if (next === 'n') text += '\n';
      else if (next === '\\' || next === '"') text += next;
      else if (next === undefined) break;
      else text += `\\${next}`;
      position += 2;
      chunkStart = position;
      continue;
    }
    position++;
  }
  throw new LineError('a quoted string is not closed');
}

function unquoteName(raw: string): string {
  lineHasBackslash = true;
  try {
    return readQuoted(raw, 0);
  } catch {
    throw new LineError(`bad quoted metric name ${raw}`);
  }
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(\\|n|")/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function skipBlanks(line: string, from: number): number {
  let position = from;
  while (line[position] === ' ' || line[position] === '\t') position++;
  return position;
}

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95; // A-Z a-z _
const isDigit = (c: number) => c >= 48 && c <= 57;
const isNameChar = (c: number, first: boolean) => isLetter(c) || c === 58 /* : */ || (!first && isDigit(c));
const isLabelNameChar = (c: number, first: boolean) => isLetter(c) || (!first && isDigit(c));

function isMetricName(name: string): boolean {
  if (name === '') return false;
  for (let i = 0; i < name.length; i++) if (!isNameChar(name.charCodeAt(i), i === 0)) return false;
  return true;
}

const FLOAT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** A sample value: a decimal float, or NaN / ±Inf in any case (as Go's ParseFloat reads them). */
export function parseValue(text: string): number | undefined {
  if (FLOAT.test(text)) return Number(text);
  switch (text.toLowerCase()) {
    case 'nan':
      return Number.NaN;
    case '+inf':
    case 'inf':
    case '+infinity':
    case 'infinity':
      return Number.POSITIVE_INFINITY;
    case '-inf':
    case '-infinity':
      return Number.NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}

/** Text 0.0.4 timestamps are integer milliseconds; OpenMetrics ones are (possibly fractional) seconds. */
function parseTimestampMs(text: string, format: ExpositionFormat): number | undefined {
  if (format === 'text') return /^-?[0-9]+$/.test(text) ? Number(text) : undefined;
  if (!FLOAT.test(text)) return undefined;
  return Math.round(Number(text) * 1000);
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
