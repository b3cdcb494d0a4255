// The TraceQL subset meshlens answers (grafana/tempo docs/sources/tempo/traceql): ONE spanset filter
// `{ cond && cond … }`, each condition `<field> <op> <value>`, and what it means in SQL over the spans
// table. Everything else — `||`, pipelines (`| count() > 2`, `| select(…)`, `| rate()`), operations
// between spansets (`} && {`, `>>`, `~`) — is refused with a message naming what is supported, so a
// user sees at once why a query Tempo would take does not run here.
import { sqlInt, sqlString } from '../collector/storage/store.ts';

export class TraceQLError extends Error {}

export const SUPPORTED_TRACEQL =
  'meshlens supports one spanset filter { cond && cond ... } where cond is <field> <op> <value>; ' +
  'fields: name, status, kind, duration, statusMessage, traceDuration, rootServiceName, rootName, ' +
  'span.<attribute>, resource.<attribute>, .<attribute>; ops: = != =~ !~ > >= < <=; ' +
  'values: "strings", numbers, durations (100ms), true/false, nil, status ok/error/unset, kind server/client/producer/consumer/internal';

/** Span-level intrinsics, and trace-level ones (a property of the whole trace every span shares). */
export type Intrinsic = 'name' | 'status' | 'kind' | 'duration' | 'statusMessage' | 'traceDuration' | 'rootServiceName' | 'rootName';
export type AttributeScope = 'span' | 'resource' | 'unscoped';
export type Field = { kind: 'intrinsic'; name: Intrinsic } | { kind: 'attribute'; scope: AttributeScope; name: string };
export type Operator = '=' | '!=' | '=~' | '!~' | '>' | '>=' | '<' | '<=';
export type StatusName = 'unset' | 'ok' | 'error';
export type KindName = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type Value =
  | { type: 'string'; value: string }
  | { type: 'number'; value: number }
  | { type: 'duration'; nanos: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'nil' }
  | { type: 'status'; value: StatusName }
  | { type: 'kind'; value: KindName };
export interface Condition {
  field: Field;
  op: Operator;
  value: Value;
}
/** The parsed query: every condition must hold on one span; none = every span. */
export interface SpansetFilter {
  conditions: Condition[];
}

export const STATUS_CODES: Record<StatusName, number> = { unset: 0, ok: 1, error: 2 };
export const KIND_CODES: Record<KindName, number> = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

const INTRINSICS: Record<string, Intrinsic> = {
  name: 'name', 'span:name': 'name',
  status: 'status', 'span:status': 'status',
  kind: 'kind', 'span:kind': 'kind',
  duration: 'duration', 'span:duration': 'duration',
  statusMessage: 'statusMessage', 'span:statusMessage': 'statusMessage',
  traceDuration: 'traceDuration', 'trace:duration': 'traceDuration',
  rootServiceName: 'rootServiceName', 'trace:rootService': 'rootServiceName',
  rootName: 'rootName', 'trace:rootName': 'rootName',
};
/** The intrinsic names /api/v2/search/tags lists: the ones the filter above understands. */
export const INTRINSIC_TAGS = ['duration', 'kind', 'name', 'rootName', 'rootServiceName', 'status', 'statusMessage', 'traceDuration'];

const DURATION_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n };

// ---- tokens ----

type Token =
  | { t: 'punct'; v: '{' | '}' | '(' | ')' | '&&' | '||' | '|' | 'spanset-op' | ','; at: number; text: string }
  | { t: 'op'; v: Operator; at: number; text: string }
  | { t: 'string'; v: string; at: number; text: string }
  | { t: 'number'; v: number; at: number; text: string }
  | { t: 'duration'; v: bigint; at: number; text: string }
  | { t: 'ident'; v: string; at: number; text: string };

const fail = (message: string, at?: number): never => {
  throw new TraceQLError(`invalid TraceQL query: ${message}${at === undefined ? '' : ` (at col ${at + 1})`}; ${SUPPORTED_TRACEQL}`);
};

/** A double-quoted TraceQL string (Go escapes) or a backtick raw string, from `at`; returns value and end. */
function readString(source: string, at: number): { value: string; end: number } {
  const quote = source[at]!;
  let value = '';
  let i = at + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === quote) return { value, end: i + 1 };
    if (c === '\\' && quote === '"') {
      const next = source[i + 1];
      const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' };
      if (next === undefined || !(next in escapes)) fail(`unknown escape \\${next ?? ''} in a string`, i);
      value += escapes[next!];
      i += 2;
      continue;
    }
    value += c;
    i++;
  }
  return fail('unterminated string', at);
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const rest = source.slice(i);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const push = (token: Token, length: number) => {
      tokens.push(token);
      i += length;
    };
    if (rest.startsWith('&&')) push({ t: 'punct', v: '&&', at: i, text: '&&' }, 2);
    else if (rest.startsWith('||')) push({ t: 'punct', v: '||', at: i, text: '||' }, 2);
    else if (/^(!?>>|!?<<|!?~|!?>|!?<)/.test(rest) && tokens.at(-1)?.t === 'punct' && tokens.at(-1)?.v === '}') {
      // After a closing brace these are spanset operators (descendant, sibling, child …), not comparisons.
      const text = /^(!?>>|!?<<|!?~|!?>|!?<)/.exec(rest)![0];
      push({ t: 'punct', v: 'spanset-op', at: i, text }, text.length);
    } else if (/^(=~|!~|!=|>=|<=)/.test(rest)) push({ t: 'op', v: rest.slice(0, 2) as Operator, at: i, text: rest.slice(0, 2) }, 2);
    else if (c === '=' || c === '>' || c === '<') push({ t: 'op', v: c as Operator, at: i, text: c }, 1);
    else if ('{}(),|'.includes(c)) push({ t: 'punct', v: c as '{', at: i, text: c }, 1);
    else if (c === '"' || c === '`') {
      const { value, end } = readString(source, i);
      push({ t: 'string', v: value, at: i, text: source.slice(i, end) }, end - i);
    } else if (/[-0-9]/.test(c) && /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)/.test(rest)) {
      const number = /^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?/.exec(rest)![0];
      const durationMatch = /^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h|d))+/.exec(rest);
      if (durationMatch && !number.startsWith('-')) {
        push({ t: 'duration', v: parseDuration(durationMatch[0], i), at: i, text: durationMatch[0] }, durationMatch[0].length);
      } else {
        if (/^[A-Za-z_]/.test(rest.slice(number.length))) fail(`bad number or duration "${rest.slice(0, number.length + 2)}…"`, i);
        push({ t: 'number', v: Number(number), at: i, text: number }, number.length);
      }
    } else if (/[A-Za-z_.]/.test(c)) {
      // Attribute paths: span.http.status_code, .service.name, resource.k8s.pod.name, span:duration,
      // and a quoted last part for names with spaces or operators in them: span."my attr".
      let text = /^[A-Za-z0-9_.:\-/]+/.exec(rest)![0];
      let value = text;
      if (text.endsWith('.') && source[i + text.length] === '"') {
        const { value: quoted, end } = readString(source, i + text.length);
        value = text + quoted;
        text = source.slice(i, end);
      }
      push({ t: 'ident', v: value, at: i, text }, text.length);
    } else {
      fail(`unexpected character "${c}"`, i);
    }
  }
  return tokens;
}

function parseDuration(text: string, at: number): bigint {
  let total = 0n;
  for (const [, amount, unit] of text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d)/g)) {
    const [whole, fraction = ''] = amount!.split('.');
    const scale = DURATION_NS[unit!];
    if (scale === undefined) fail(`bad duration "${text}"`, at);
    total += BigInt(whole!) * scale! + (fraction ? (BigInt(fraction) * scale!) / 10n ** BigInt(fraction.length) : 0n);
  }
  return total;
}

// ---- parser ----

/** An identifier as a field: an intrinsic, or a scoped / unscoped attribute name. */
export function parseField(text: string, at?: number): Field {
  const intrinsic = INTRINSICS[text];
  if (intrinsic) return { kind: 'intrinsic', name: intrinsic };
  const scoped = /^(span|resource|event|link|instrumentation)?\.(.+)$/.exec(text);
  if (scoped) {
    const [, scope, name] = scoped;
    if (scope === 'event' || scope === 'link' || scope === 'instrumentation') fail(`the ${scope} scope is not supported`, at);
    return { kind: 'attribute', scope: scope === 'span' || scope === 'resource' ? scope : 'unscoped', name: name! };
  }
  return fail(`unknown or unsupported field "${text}"`, at);
}

function valueOf(token: Token, field: Field): Value {
  switch (token.t) {
    case 'string':
      return { type: 'string', value: token.v };
    case 'number':
      return { type: 'number', value: token.v };
    case 'duration':
      return { type: 'duration', nanos: token.v };
    case 'ident': {
      if (token.v === 'true' || token.v === 'false') return { type: 'bool', value: token.v === 'true' };
      if (token.v === 'nil') return { type: 'nil' };
      if (field.kind === 'intrinsic' && field.name === 'status' && token.v in STATUS_CODES) return { type: 'status', value: token.v as StatusName };
      if (field.kind === 'intrinsic' && field.name === 'kind' && token.v in KIND_CODES) return { type: 'kind', value: token.v as KindName };
      return fail(`"${token.text}" is not a value here (quote strings: "${token.text}")`, token.at);
    }
    default:
      return fail(`expected a value, got "${token.text}"`, token.at);
  }
}

const STRING_OPS: readonly Operator[] = ['=', '!=', '=~', '!~'];
const ORDER_OPS: readonly Operator[] = ['=', '!=', '>', '>=', '<', '<='];

/** Refuses field/operator/value combinations that have no meaning (status > 3, duration =~ "x" …). */
function checkCondition(c: Condition, at: number): void {
  const { field, op, value } = c;
  const needs = (ok: boolean, what: string) => ok || fail(what, at);
  if (field.kind === 'intrinsic') {
    switch (field.name) {
      case 'status':
        needs(value.type === 'status' && (op === '=' || op === '!='), 'status takes = or != and one of ok, error, unset');
        return;
      case 'kind':
        needs(value.type === 'kind' && (op === '=' || op === '!='), 'kind takes = or != and one of server, client, producer, consumer, internal, unspecified');
        return;
      case 'duration':
      case 'traceDuration':
        needs(value.type === 'duration' && ORDER_OPS.includes(op), `${field.name} compares (= != > >= < <=) with a duration such as 100ms`);
        return;
      default:
        needs(value.type === 'string' && STRING_OPS.includes(op), `${field.name} compares (= != =~ !~) with a "string"`);
        if (op === '=~' || op === '!~') checkRegex(value.type === 'string' ? value.value : '', at);
        return;
    }
  }
  switch (value.type) {
    case 'string':
      needs(STRING_OPS.includes(op), `a string compares with = != =~ !~, not ${op}`);
      if (op === '=~' || op === '!~') checkRegex(value.value, at);
      return;
    case 'number':
      needs(ORDER_OPS.includes(op), `a number compares with = != > >= < <=, not ${op}`);
      return;
    case 'bool':
    case 'nil':
      needs(op === '=' || op === '!=', `${value.type === 'nil' ? 'nil' : 'true/false'} compares with = or != only`);
      return;
    default:
      fail(`an attribute cannot be compared with a ${value.type} value`, at);
  }
}

/** ClickHouse matches with RE2: constructs RE2 lacks are refused here rather than failing in the database. */
function checkRegex(pattern: string, at: number): void {
  if (/\(\?[=!<]|\\[1-9]/.test(pattern)) fail('regular expressions cannot use lookaround or backreferences (RE2 syntax)', at);
  try {
    new RegExp(pattern);
  } catch (error) {
    fail(`bad regular expression "${pattern}": ${(error as Error).message}`, at);
  }
}

export function parseTraceQL(query: string): SpansetFilter {
  const tokens = tokenize(query);
  if (tokens.length === 0) fail('empty query');
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++] ?? fail('unexpected end of query');
  const expectPunct = (v: string) => {
    const token = next();
    if (token.t !== 'punct' || token.v !== v) fail(`expected "${v}", got "${token.text}"`, token.at);
  };
  const unsupported = (token: Token): never => {
    if (token.t === 'punct' && token.v === '||') return fail('|| (or) is not supported', token.at);
    if (token.t === 'punct' && token.v === '|') return fail('pipelines (| count(), | select(...), | by(...), | rate() ...) are not supported', token.at);
    if (token.t === 'punct' && (token.v === 'spanset-op' || token.v === '&&')) return fail(`operations between spansets (${token.text}) are not supported`, token.at);
    return fail(`unexpected "${token.text}"`, token.at);
  };

  const conditions: Condition[] = [];
  // expr := term ('&&' term)* ; term := '(' expr ')' | cond | 'true'
  const parseExpr = (): void => {
    parseTerm();
    for (;;) {
      const token = peek();
      if (token?.t === 'punct' && token.v === '&&') {
        i++;
        parseTerm();
      } else if (token?.t === 'punct' && token.v === '||') {
        unsupported(token);
      } else {
        return;
      }
    }
  };
  const parseTerm = (): void => {
    const token = next();
    if (token.t === 'punct' && token.v === '(') {
      parseExpr();
      expectPunct(')');
      return;
    }
    if (token.t === 'ident' && token.v === 'true') return; // { true }: every span
    if (token.t !== 'ident') return unsupported(token);
    const field = parseField(token.v, token.at);
    const opToken = next();
    if (opToken.t !== 'op') return fail(`expected a comparison after ${token.text}, got "${opToken.text}"`, opToken.at);
    const condition: Condition = { field, op: opToken.v, value: valueOf(next(), field) };
    checkCondition(condition, opToken.at);
    conditions.push(condition);
  };

  expectPunct('{');
  if (!(peek()?.t === 'punct' && peek()?.v === '}')) parseExpr();
  expectPunct('}');
  if (i < tokens.length) unsupported(tokens[i]!);
  return { conditions };
}

// ---- SQL over the spans table ----

const SQL_OPS: Record<Operator, string> = { '=': '=', '!=': '!=', '>': '>', '>=': '>=', '<': '<', '<=': '<=', '=~': '', '!~': '' };

/** A string comparison of a SQL expression; regexes are anchored at both ends, as Tempo's are. */
function stringSql(expr: string, op: Operator, value: string): string {
  if (op === '=~') return `match(${expr}, ${sqlString(`^(?:${value})$`)})`;
  if (op === '!~') return `NOT match(${expr}, ${sqlString(`^(?:${value})$`)})`;
  return `${expr} ${SQL_OPS[op]} ${sqlString(value)}`;
}

function numberLiteral(n: number): string {
  if (!Number.isFinite(n)) throw new TraceQLError(`invalid TraceQL query: ${n} is not a finite number`);
  return Number.isInteger(n) ? `${n}.0` : String(n);
}

/** One attribute map (`attributes` or `resource_attributes`): the condition on it, false when the key is missing. */
function mapSql(map: string, key: string, op: Operator, value: Value): string {
  const k = sqlString(key);
  const has = `mapContains(${map}, ${k})`;
  const v = `${map}[${k}]`;
  switch (value.type) {
    case 'nil':
      return op === '=' ? `NOT ${has}` : has;
    case 'string':
      return `(${has} AND ${stringSql(v, op, value.value)})`;
    case 'bool':
      return `(${has} AND ${v} ${SQL_OPS[op]} ${sqlString(String(value.value))})`;
    case 'number':
      // Numbers compare by value whatever type the sender gave the attribute (Zipkin tags are all text).
      return `(toFloat64OrNull(${v}) ${SQL_OPS[op]} ${numberLiteral(value.value)})`;
    default:
      throw new TraceQLError(`invalid TraceQL query: an attribute cannot be compared with a ${value.type} value`);
  }
}

/** service.name lives in its own column (also for Zipkin spans, which have no resource). */
function serviceSql(op: Operator, value: Value): string {
  if (value.type === 'nil') return op === '=' ? `service = ''` : `service != ''`;
  if (value.type === 'string') return stringSql('service', op, value.value);
  return 'false';
}

/** A condition on one span row of `spans` (trace-level ones as a trace_id subquery). */
export function conditionSql(c: Condition, window: { startUnixNano: bigint; endUnixNano: bigint }): string {
  const { field, op, value } = c;
  if (field.kind === 'attribute') {
    const resource = field.name === 'service.name' ? serviceSql(op, value) : mapSql('resource_attributes', field.name, op, value);
    if (field.scope === 'resource') return resource;
    const span = mapSql('attributes', field.name, op, value);
    if (field.scope === 'span') return span;
    return value.type === 'nil' && op === '=' ? `(${span} AND ${resource})` : `(${span} OR ${resource})`;
  }
  switch (field.name) {
    case 'name':
      return stringSql('name', op, (value as { value: string }).value);
    case 'statusMessage':
      return stringSql('status_message', op, (value as { value: string }).value);
    case 'status':
      return `status_code ${SQL_OPS[op]} ${sqlInt(STATUS_CODES[(value as { value: StatusName }).value])}`;
    case 'kind':
      return `kind ${SQL_OPS[op]} ${sqlInt(KIND_CODES[(value as { value: KindName }).value])}`;
    case 'duration':
      return `duration_ns ${SQL_OPS[op]} ${sqlInt((value as { nanos: bigint }).nanos)}`;
    case 'traceDuration':
      return traceDurationSql(op, (value as { nanos: bigint }).nanos, window);
    case 'rootServiceName':
    case 'rootName': {
      const column = field.name === 'rootName' ? 'name' : 'service';
      return `trace_id IN (SELECT trace_id FROM spans WHERE ${windowSql(window)}
        AND parent_span_id = toFixedString('\\0\\0\\0\\0\\0\\0\\0\\0', 8)
        AND ${stringSql(column, op, (value as { value: string }).value)})`;
    }
  }
}

export function windowSql(window: { startUnixNano: bigint; endUnixNano: bigint }): string {
  return `ts >= fromUnixTimestamp64Nano(${sqlInt(window.startUnixNano)}) AND ts <= fromUnixTimestamp64Nano(${sqlInt(window.endUnixNano)})`;
}

/** Traces whose whole duration (first span start to last span end, from the trace index) compares as asked. */
export function traceDurationSql(op: Operator, nanos: bigint, window: { startUnixNano: bigint; endUnixNano: bigint }): string {
  const days = `day >= toDate(fromUnixTimestamp64Nano(${sqlInt(window.startUnixNano)})) - 1 AND day <= toDate(fromUnixTimestamp64Nano(${sqlInt(window.endUnixNano)})) + 1`;
  return `trace_id IN (SELECT trace_id FROM trace_index WHERE ${days} GROUP BY trace_id
    HAVING toUnixTimestamp64Nano(max(end)) - toUnixTimestamp64Nano(min(start)) ${SQL_OPS[op]} ${sqlInt(nanos)})`;
}

/** The filter's WHERE terms (joined with AND by the caller); none for `{}`. */
export function filterSql(filter: SpansetFilter, window: { startUnixNano: bigint; endUnixNano: bigint }): string[] {
  return filter.conditions.map((c) => conditionSql(c, window));
}
