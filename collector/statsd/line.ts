// The StatsD / DogStatsD line grammar (mesh-telemetry.md §7.1), pure: text in, metrics out.
//
//   <name>:<value>[:<value>…]|<type>[|@<rate>][|#<tag>,<k>:<v>…][|c:<container-id>][|T<unix-seconds>]
//
// Types c, g (a leading +/- is a relative change, as in Etsy's statsd), ms, h, d, s. Several values per
// line are DogStatsD 1.1 (not for sets: a set member is the whole text after the first ':'). The name
// ends at the line's FIRST ':' — as Etsy's statsd reads it — so names may hold '|' (Istio's
// `outbound|9080||reviews…` clusters in plain StatsD names). Tags split on ',' and each tag on its first
// ':'; a valueless tag has the value ''. Telegraf's form `name,k=v,k2=v2:1|c` (hot-shots `telegraf: true`)
// is read as tags too. Events `_e{…}` and service checks `_sc|…` are recognised and skipped. Unknown
// `|x…` fields are ignored, as the Datadog agent does (new ones appear: `|e:` external data, `|card:`).
//
// A tag value may itself hold '|' (an Istio cluster name in `envoy.cluster_name`): a field after the tags
// that is none of the known fields is taken as the rest of that tag value.

export type StatsdType = 'c' | 'g' | 'ms' | 'h' | 'd' | 's';

export type Tags = Record<string, string>;

interface MetricBase {
  name: string;
  /** 1 unless `|@rate` says otherwise; 0 < rate ≤ 1. */
  sampleRate: number;
  /**
   * The tags as DogStatsD writes them (`k:v,k2`; Telegraf's name tags rewritten so), '' for none: kept as
   * text because only a line that opens a series needs them parsed (metricTags()).
   */
  tagText: string;
  /** DogStatsD 1.2 `|c:<id>`; '' when absent. */
  containerId: string;
  /** DogStatsD 1.3 `|T<unix seconds>`; null when absent. */
  timestampS: number | null;
}

export interface NumericMetric extends MetricBase {
  type: 'c' | 'ms' | 'h' | 'd';
  values: number[];
}

export interface GaugeValue {
  value: number;
  /** `+5` / `-3`: a change to the gauge's previous value, not a new value. */
  relative: boolean;
}

export interface GaugeMetric extends MetricBase {
  type: 'g';
  values: GaugeValue[];
}

export interface SetMetric extends MetricBase {
  type: 's';
  member: string;
}

export type StatsdMetric = NumericMetric | GaugeMetric | SetMetric;

export type MalformedReason =
  | 'no_value' // no ':' after the name
  | 'empty_name'
  | 'no_type' // no '|<type>' after the value
  | 'unknown_type'
  | 'bad_value' // not a decimal number (or empty)
  | 'bad_sample_rate' // not a number in (0, 1]
  | 'bad_timestamp' // |T not followed by whole seconds
  | 'too_long'; // longer than the receiver's line limit (set by the receiver, never by parseLine)

export type ParsedLine =
  | { kind: 'metric'; metric: StatsdMetric }
  | { kind: 'event' }
  | { kind: 'service_check' }
  | { kind: 'empty' }
  | { kind: 'malformed'; reason: MalformedReason };

const TYPES = new Set<string>(['c', 'g', 'ms', 'h', 'd', 's']);
// Decimal numbers only: Number() would also take '', ' ', '0x1f' and 'Infinity'.
const NUMBER = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const TIMESTAMP = /^[0-9]{1,12}$/;

const EMPTY: ParsedLine = { kind: 'empty' };
const EVENT: ParsedLine = { kind: 'event' };
const SERVICE_CHECK: ParsedLine = { kind: 'service_check' };
const malformedLines = new Map<MalformedReason, ParsedLine>();
const malformed = (reason: MalformedReason): ParsedLine => {
  let line = malformedLines.get(reason);
  if (line === undefined) malformedLines.set(reason, (line = { kind: 'malformed', reason }));
  return line;
};

/** One line (no '\n'; a trailing '\r' is dropped). */
export function parseLine(raw: string): ParsedLine {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.trim() === '') return EMPTY;
  if (line.startsWith('_e{')) return EVENT;
  if (line.startsWith('_sc|')) return SERVICE_CHECK;

  const colon = line.indexOf(':');
  if (colon < 0) return malformed('no_value');
  let name = line.slice(0, colon).trim();
  if (name === '') return malformed('empty_name');
  const pipe = line.indexOf('|', colon + 1);
  if (pipe < 0) return malformed('no_type');
  const valueText = line.slice(colon + 1, pipe);
  const fields = line.slice(pipe + 1).split('|');
  const type = fields[0]!;
  if (!TYPES.has(type)) return malformed('unknown_type');

  let tagText: string | null = null;
  const comma = name.indexOf(',');
  if (comma > 0) {
    const telegraf = telegrafTags(name.slice(comma + 1));
    if (telegraf !== null) {
      name = name.slice(0, comma);
      tagText = telegraf;
    }
  }

  let sampleRate = 1;
  let containerId = '';
  let timestampS: number | null = null;
  for (let i = 1; i < fields.length; i++) {
    const field = fields[i]!;
    if (field.startsWith('#')) {
      tagText = tagText === null ? field.slice(1) : `${tagText},${field.slice(1)}`;
      // The fields after the tags that are no known field are the rest of a tag value holding '|'.
      while (i + 1 < fields.length && !isKnownField(fields[i + 1]!)) tagText += `|${fields[++i]!}`;
    } else if (field.startsWith('@')) {
      const rateText = field.slice(1);
      const rate = Number(rateText);
      if (!NUMBER.test(rateText) || !(rate > 0 && rate <= 1)) return malformed('bad_sample_rate');
      sampleRate = rate;
    } else if (field.startsWith('c:')) {
      containerId = field.slice(2);
    } else if (field.startsWith('T')) {
      const text = field.slice(1);
      if (!TIMESTAMP.test(text)) return malformed('bad_timestamp');
      timestampS = Number(text);
    }
    // Anything else (|e:, |card:, newer fields) is ignored, as the Datadog agent does.
  }
  const tags = tagText ?? '';
  if (type === 's') {
    if (valueText === '') return malformed('bad_value');
    return { kind: 'metric', metric: { name, sampleRate, tagText: tags, containerId, timestampS, type, member: valueText } };
  }
  const texts = valueText.includes(':') ? valueText.split(':') : [valueText];
  if (type === 'g') {
    const values: GaugeValue[] = [];
    for (const text of texts) {
      if (!NUMBER.test(text)) return malformed('bad_value');
      values.push({ value: Number(text), relative: text[0] === '+' || text[0] === '-' });
    }
    return { kind: 'metric', metric: { name, sampleRate, tagText: tags, containerId, timestampS, type, values } };
  }
  const values: number[] = [];
  for (const text of texts) {
    if (!NUMBER.test(text)) return malformed('bad_value');
    const value = Number(text);
    if (!Number.isFinite(value)) return malformed('bad_value');
    values.push(value);
  }
  return { kind: 'metric', metric: { name, sampleRate, tagText: tags, containerId, timestampS, type: type as NumericMetric['type'], values } };
}

/**
 * The decimal number text[start, end) spells, read without a substring: only the plain forms (sign,
 * digits, '.', at most 15 digits, no exponent), for which mantissa / 10^decimals — two exact doubles,
 * divided with one rounding — is exactly what Number() makes of the text. NaN for anything else, which is
 * not necessarily malformed: the caller reads those lines with parseLine().
 */
export function readPlainDecimal(text: string, start: number, end: number): number {
  let i = start;
  let negative = false;
  const first = text.charCodeAt(i);
  if (first === 45 /* - */ || first === 43 /* + */) {
    negative = first === 45;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let decimals = -1;
  for (; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code >= 48 && code <= 57) {
      mantissa = mantissa * 10 + (code - 48);
      digits++;
      if (decimals >= 0) decimals++;
    } else if (code === 46 /* . */ && decimals < 0) {
      decimals = 0;
    } else {
      return NaN;
    }
  }
  if (digits === 0 || digits > 15) return NaN;
  const value = decimals > 0 ? mantissa / POWERS_OF_TEN[decimals]! : mantissa;
  return negative ? -value : value;
}

const POWERS_OF_TEN = Array.from({ length: 16 }, (_, n) => 10 ** n);

/** A metric's tags, parsed. */
export function metricTags(metric: StatsdMetric): Tags {
  return metric.tagText === '' ? {} : dogstatsdTags(metric.tagText);
}

function isKnownField(field: string): boolean {
  return field.startsWith('#') || field.startsWith('c:') || field.startsWith('e:') || field.startsWith('card:') ||
    (field.startsWith('@') && NUMBER.test(field.slice(1))) || (field.startsWith('T') && TIMESTAMP.test(field.slice(1)));
}

/** `k:v,k2,k3:v:with:colons` → { k: 'v', k2: '', k3: 'v:with:colons' }; a repeated key keeps its last value. */
export function dogstatsdTags(text: string): Tags {
  const tags: Tags = {};
  for (const tag of text.split(',')) {
    if (tag === '') continue;
    const colon = tag.indexOf(':');
    if (colon < 0) tags[tag] = '';
    else tags[tag.slice(0, colon)] = tag.slice(colon + 1);
  }
  return tags;
}

/** Telegraf's `k=v,k2=v2` after the name as DogStatsD tag text; null when it is not that form (the ',' is the name's). */
function telegrafTags(text: string): string | null {
  const tags: string[] = [];
  for (const tag of text.split(',')) {
    const equals = tag.indexOf('=');
    if (equals <= 0) return null;
    tags.push(`${tag.slice(0, equals)}:${tag.slice(equals + 1)}`);
  }
  return tags.join(',');
}

export interface ParsedPacket {
  metrics: StatsdMetric[];
  events: number;
  serviceChecks: number;
  malformed: Map<MalformedReason, number>;
}

/** Every line of a datagram (or of a stream chunk holding whole lines), '\n'-separated. */
export function parsePacket(text: string): ParsedPacket {
  const packet: ParsedPacket = { metrics: [], events: 0, serviceChecks: 0, malformed: new Map() };
  for (const line of text.split('\n')) {
    const parsed = parseLine(line);
    if (parsed.kind === 'metric') packet.metrics.push(parsed.metric);
    else if (parsed.kind === 'event') packet.events++;
    else if (parsed.kind === 'service_check') packet.serviceChecks++;
    else if (parsed.kind === 'malformed') packet.malformed.set(parsed.reason, (packet.malformed.get(parsed.reason) ?? 0) + 1);
  }
  return packet;
}
