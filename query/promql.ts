// The PromQL that Grafana sends for Tempo's service-graph tab and for RED dashboards, parsed into a small
// tree (query/prometheus.ts evaluates it over meshlens' edge rows). Not all of PromQL: exactly these shapes,
// and a clear error naming what is not supported for anything else.
//
//   expr      = or
//   or        = additive { ("or" | "OR") additive }
//   additive  = term { ("+" | "-") term }
//   term      = unary { ("*" | "/") unary }
//   unary     = ["-"] primary
//   primary   = number | "(" expr ")" | aggregate | call | selector
//   aggregate = ("sum" | "group" | "count" | "avg" | "min" | "max") ( by "(" expr ")" | "(" expr ")" [by] )
//   by        = ("by" | "without") "(" [label { "," label }] ")"
//   call      = ("rate" | "increase" | "delta" | "irate") "(" selector "[" duration "]" ")"
//             | "histogram_quantile" "(" number "," expr ")"
//   selector  = metric [ "{" [matcher { "," matcher }] [","] "}" ] | "{" matchers "}" (with a __name__ matcher)
//   matcher   = label ("=" | "!=" | "=~" | "!~") string
//   duration  = number unit { number unit }, unit one of ms s m h d w y (Grafana's $__range: 1h, 3600s, 1h30m…)

export type AggregateOp = 'sum' | 'group' | 'count' | 'avg' | 'min' | 'max';
export type RangeFunction = 'rate' | 'increase' | 'delta' | 'irate';
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
}

export interface Selector {
  type: 'selector';
  metric: string;
  matchers: Matcher[];
}

export type Expr =
  | { type: 'number'; value: number }
  | Selector
  | { type: 'range-call'; fn: RangeFunction; selector: Selector; rangeMs: number }
  | { type: 'aggregate'; op: AggregateOp; grouping: { labels: string[]; without: boolean } | null; expr: Expr }
  | { type: 'histogram-quantile'; quantile: number; expr: Expr }
  | { type: 'binary'; op: '+' | '-' | '*' | '/' | 'or'; left: Expr; right: Expr };

/** A query the parser refuses: the message says what and where. */
export class PromqlError extends Error {}

type Token =
  | { kind: 'ident'; text: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'duration'; ms: number; at: number }
  | { kind: 'punct'; text: string; at: number }
  | { kind: 'end'; at: number };

const AGGREGATES = new Set<string>(['sum', 'group', 'count', 'avg', 'min', 'max']);
const RANGE_FUNCTIONS = new Set<string>(['rate', 'increase', 'delta', 'irate']);
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** A PromQL duration (`5m`, `1h30m`, `3600s`, `250ms`) in ms; also plain seconds (`3600`), as the HTTP API allows. */
export function parseDuration(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (!DURATION.test(text)) throw new PromqlError(`bad duration "${text}": use e.g. 5m, 1h30m, 3600s`);
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(amount) * UNIT_MS[unit!]!;
  return ms;
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i;
    if (c === '[') {
      const close = query.indexOf(']', i);
      if (close < 0) throw new PromqlError(`unclosed "[" at ${at}`);
      tokens.push({ kind: 'duration', ms: parseDuration(query.slice(i + 1, close).trim()), at });
      i = close + 1;
    } else if (c === '"' || c === "'" || c === '`') {
      let value = '';
      i++;
      while (i < query.length && query[i] !== c) {
        if (query[i] === '\\' && c !== '`') {
          const next = query[i + 1];
          value += next === 'n' ? '\n' : next === 't' ? '\t' : (next ?? '');
          i += 2;
        } else value += query[i++];
      }
      if (i >= query.length) throw new PromqlError(`unclosed string at ${at}`);
      i++;
      tokens.push({ kind: 'string', value, at });
    } else if (/[0-9.]/.test(c)) {
      const match = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(query.slice(i))!;
      tokens.push({ kind: 'number', value: Number(match[0]), at });
      i += match[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const match = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(query.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0], at });
      i += match[0].length;
    } else {
      const two = query.slice(i, i + 2);
      const text = ['!=', '=~', '!~'].includes(two) ? two : c;
      if (!'(){},=+-*/'.includes(text[0]!) && text.length === 1) throw new PromqlError(`unexpected "${c}" at ${at}`);
      if (text === '!') throw new PromqlError(`unexpected "!" at ${at}`);
      tokens.push({ kind: 'punct', text, at });
      i += text.length;
    }
  }
  tokens.push({ kind: 'end', at: query.length });
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Expr {
    const expr = this.or();
    const rest = this.peek();
    if (rest.kind !== 'end') throw new PromqlError(`unexpected ${describe(rest)} at ${rest.at}`);
    return expr;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  private isIdent(text: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && t.text.toLowerCase() === text;
  }

  private expect(text: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) throw new PromqlError(`expected "${text}" at ${t.at}, got ${describe(t)}`);
  }

  private or(): Expr {
    let left = this.additive();
    while (this.isIdent('or')) {
      this.next();
      left = { type: 'binary', op: 'or', left, right: this.additive() };
    }
    return left;
  }

  private additive(): Expr {
    let left = this.term();
    while (this.isPunct('+') || this.isPunct('-')) {
      const op = (this.next() as { text: '+' | '-' }).text;
      left = { type: 'binary', op, left, right: this.term() };
    }
    return left;
  }

  private term(): Expr {
    let left = this.unary();
    while (this.isPunct('*') || this.isPunct('/')) {
      const op = (this.next() as { text: '*' | '/' }).text;
      left = { type: 'binary', op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): Expr {
    if (this.isPunct('-')) {
      this.next();
      return { type: 'binary', op: '-', left: { type: 'number', value: 0 }, right: this.primary() };
    }
    return this.primary();
  }

  private primary(): Expr {
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return { type: 'number', value: t.value };
    }
    if (t.kind === 'punct' && t.text === '(') {
      this.next();
      const inner = this.or();
      this.expect(')');
      return inner;
    }
    if (t.kind === 'punct' && t.text === '{') return this.selector('');
    if (t.kind !== 'ident') throw new PromqlError(`unexpected ${describe(t)} at ${t.at}`);
    const name = t.text;
    const lower = name.toLowerCase();
    const following = this.tokens[this.pos + 1]!;
    const callsSomething = following.kind === 'punct' && following.text === '(';
    if (AGGREGATES.has(lower) && (callsSomething || (following.kind === 'ident' && ['by', 'without'].includes(following.text.toLowerCase())))) {
      this.next();
      return this.aggregate(lower as AggregateOp);
    }
    if (RANGE_FUNCTIONS.has(lower) && callsSomething) {
      this.next();
      this.expect('(');
      const selector = this.selectorAt();
      const range = this.next();
      if (range.kind !== 'duration') throw new PromqlError(`${lower}() needs a range vector, e.g. ${lower}(${selector.metric}[5m])`);
      this.expect(')');
      return { type: 'range-call', fn: lower as RangeFunction, selector, rangeMs: range.ms };
    }
    if (lower === 'histogram_quantile' && callsSomething) {
      this.next();
      this.expect('(');
      const q = this.next();
      if (q.kind !== 'number') throw new PromqlError(`histogram_quantile needs a number first, at ${q.at}`);
      this.expect(',');
      const expr = this.or();
      this.expect(')');
      return { type: 'histogram-quantile', quantile: q.value, expr };
    }
    if (callsSomething) throw new PromqlError(`function ${name}() is not supported here: meshlens answers the service-graph and RED queries (sum/group/count/avg/min/max by, rate/increase/delta, histogram_quantile, + - * /, or)`);
    this.next();
    return this.selector(name);
  }

  private selectorAt(): Selector {
    const t = this.next();
    if (t.kind === 'ident') return this.selector(t.text);
    if (t.kind === 'punct' && t.text === '{') {
      this.pos--;
      return this.selector('');
    }
    throw new PromqlError(`expected a metric selector at ${t.at}, got ${describe(t)}`);
  }

  private selector(metric: string): Selector {
    const matchers: Matcher[] = [];
    if (this.isPunct('{')) {
      this.next();
      while (!this.isPunct('}')) {
        const label = this.next();
        if (label.kind !== 'ident') throw new PromqlError(`expected a label name at ${label.at}, got ${describe(label)}`);
        const op = this.next();
        if (op.kind !== 'punct' || !['=', '!=', '=~', '!~'].includes(op.text)) throw new PromqlError(`expected = != =~ or !~ at ${op.at}`);
        const value = this.next();
        if (value.kind !== 'string') throw new PromqlError(`expected a quoted label value at ${value.at}`);
        matchers.push({ label: label.text, op: op.text as MatchOp, value: value.value });
        if (this.isPunct(',')) this.next();
        else if (!this.isPunct('}')) throw new PromqlError(`expected "," or "}" at ${this.peek().at}`);
      }
      this.next();
    }
    // {__name__=~"a|b"}: no name of its own, the __name__ matchers pick the series (metric stays '').
    if (metric === '' && !matchers.some((m) => m.label === '__name__')) throw new PromqlError('a selector needs a metric name (or {__name__="…"})');
    return { type: 'selector', metric, matchers };
  }

  private aggregate(op: AggregateOp): Expr {
    let grouping = this.grouping();
    this.expect('(');
    const expr = this.or();
    this.expect(')');
    grouping ??= this.grouping();
    return { type: 'aggregate', op, grouping, expr };
  }

  private grouping(): { labels: string[]; without: boolean } | null {
    if (!this.isIdent('by') && !this.isIdent('without')) return null;
    const without = (this.next() as { text: string }).text.toLowerCase() === 'without';
    this.expect('(');
    const labels: string[] = [];
    while (!this.isPunct(')')) {
      const label = this.next();
      if (label.kind !== 'ident') throw new PromqlError(`expected a label name at ${label.at}`);
      labels.push(label.text);
      if (this.isPunct(',')) this.next();
    }
    this.next();
    return { labels, without };
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'end of query';
    case 'ident':
      return `"${t.text}"`;
    case 'punct':
      return `"${t.text}"`;
    case 'number':
      return `number ${t.value}`;
    case 'string':
      return `string "${t.value}"`;
    case 'duration':
      return 'a range [..]';
  }
}

/** Parses one query; throws PromqlError saying what is wrong or unsupported. */
export function parsePromql(query: string): Expr {
  if (query.trim() === '') throw new PromqlError('empty query');
  return new Parser(tokenize(query)).parse();
}
