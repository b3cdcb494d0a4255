// The TraceQL subset's parser: the shapes Grafana's Tempo query builder writes (SearchTraceQLEditor's
// `{resource.service.name="x" && name="op" && duration>100ms}`, multi-value `=~"a|b"`, status/kind
// keywords, unquoted numbers), and a clear refusal, naming what is supported, for everything else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseField, parseTraceQL, SUPPORTED_TRACEQL, TraceQLError } from './traceql.ts';

describe('parseTraceQL', () => {
  it('{} and { true } select every span', () => {
    assert.deepEqual(parseTraceQL('{}'), { conditions: [] });
    assert.deepEqual(parseTraceQL('{ }'), { conditions: [] });
    assert.deepEqual(parseTraceQL('{ true }'), { conditions: [] });
  });

  it("reads the query builder's filter: scoped attributes, intrinsics, keywords, durations, numbers", () => {
    const q = '{resource.service.name="checkout" && name="GET /cart" && span.http.status_code>=500 && duration>100ms && status=error && kind=server}';
    assert.deepEqual(parseTraceQL(q).conditions, [
      { field: { kind: 'attribute', scope: 'resource', name: 'service.name' }, op: '=', value: { type: 'string', value: 'checkout' } },
      { field: { kind: 'intrinsic', name: 'name' }, op: '=', value: { type: 'string', value: 'GET /cart' } },
      { field: { kind: 'attribute', scope: 'span', name: 'http.status_code' }, op: '>=', value: { type: 'number', value: 500 } },
      { field: { kind: 'intrinsic', name: 'duration' }, op: '>', value: { type: 'duration', nanos: 100_000_000n } },
      { field: { kind: 'intrinsic', name: 'status' }, op: '=', value: { type: 'status', value: 'error' } },
      { field: { kind: 'intrinsic', name: 'kind' }, op: '=', value: { type: 'kind', value: 'server' } },
    ]);
  });

  it('takes every comparison operator, unscoped attributes, colon intrinsics, bools, nil and parentheses', () => {
    const ops = parseTraceQL('{ .a != "x" && (span.b =~ "GET|POST" && span.c !~ `^/h.*`) && .d < 1.5 && .e <= -2 && .f > 0 && .g = true && .h != nil }');
    assert.deepEqual(
      ops.conditions.map((c) => [c.field.kind === 'attribute' ? `${c.field.scope}.${c.field.name}` : c.field.name, c.op, c.value]),
      [
        ['unscoped.a', '!=', { type: 'string', value: 'x' }],
        ['span.b', '=~', { type: 'string', value: 'GET|POST' }],
        ['span.c', '!~', { type: 'string', value: '^/h.*' }],
        ['unscoped.d', '<', { type: 'number', value: 1.5 }],
        ['unscoped.e', '<=', { type: 'number', value: -2 }],
        ['unscoped.f', '>', { type: 'number', value: 0 }],
        ['unscoped.g', '=', { type: 'bool', value: true }],
        ['unscoped.h', '!=', { type: 'nil' }],
      ],
    );
    assert.deepEqual(parseTraceQL('{ span:duration >= 1m30s && trace:duration < 2.5s && trace:rootService = "fe" && rootName = "GET /" }').conditions, [
      { field: { kind: 'intrinsic', name: 'duration' }, op: '>=', value: { type: 'duration', nanos: 90_000_000_000n } },
      { field: { kind: 'intrinsic', name: 'traceDuration' }, op: '<', value: { type: 'duration', nanos: 2_500_000_000n } },
      { field: { kind: 'intrinsic', name: 'rootServiceName' }, op: '=', value: { type: 'string', value: 'fe' } },
      { field: { kind: 'intrinsic', name: 'rootName' }, op: '=', value: { type: 'string', value: 'GET /' } },
    ]);
  });

  it('reads escapes in strings and quoted attribute names', () => {
    assert.deepEqual(parseTraceQL('{ span."my attr" = "say \\"hi\\"\\n" }').conditions, [
      { field: { kind: 'attribute', scope: 'span', name: 'my attr' }, op: '=', value: { type: 'string', value: 'say "hi"\n' } },
    ]);
  });

  const refuses = (query: string, reason: RegExp) =>
    assert.throws(
      () => parseTraceQL(query),
      (error: unknown) => {
        assert.ok(error instanceof TraceQLError, `${query}: ${String(error)}`);
        assert.match(error.message, /^invalid TraceQL query: /);
        assert.match(error.message, reason, query);
        assert.ok(error.message.endsWith(SUPPORTED_TRACEQL), `${query}: the message names what is supported`);
        return true;
      },
    );

  it('refuses ||, pipelines, aggregates and operations between spansets, saying which', () => {
    refuses('{ name = "a" || name = "b" }', /\|\| \(or\) is not supported/);
    refuses('{ } | count() > 2', /pipelines .* are not supported/);
    refuses('{ status = error } | rate()', /pipelines/);
    refuses('{ } | select(span.http.url)', /pipelines/);
    refuses('{ name = "a" } && { name = "b" }', /operations between spansets \(&&\)/);
    refuses('{ name = "a" } >> { name = "b" }', /operations between spansets \(>>\)/);
    refuses('{ name = "a" } ~ { name = "b" }', /operations between spansets \(~\)/);
  });

  it('refuses malformed queries and meaningless comparisons', () => {
    refuses('', /empty query/);
    refuses('name = "a"', /expected "\{"/);
    refuses('{ name = "a"', /unexpected end/);
    refuses('{ name = a }', /quote strings/);
    refuses('{ name > "a" }', /name compares \(= != =~ !~\)/);
    refuses('{ status = 500 }', /status takes = or !=/);
    refuses('{ status > error }', /status takes/);
    refuses('{ kind = error }', /is not a value here/);
    refuses('{ duration > 100 }', /duration compares .* with a duration/);
    refuses('{ span.a > "x" }', /a string compares with = != =~ !~/);
    refuses('{ span.a =~ 5 }', /a number compares/);
    refuses('{ span.a =~ "(?=x)" }', /lookaround/);
    refuses('{ span.a =~ "(" }', /bad regular expression/);
    refuses('{ childCount > 2 }', /unknown or unsupported field "childCount"/);
    refuses('{ event.name = "x" }', /the event scope is not supported/);
    refuses('{ name = "unterminated }', /unterminated string/);
  });
});

describe('parseField (v2 tag-value identifiers)', () => {
  it('reads scoped, unscoped and intrinsic identifiers', () => {
    assert.deepEqual(parseField('resource.service.name'), { kind: 'attribute', scope: 'resource', name: 'service.name' });
    assert.deepEqual(parseField('span.http.method'), { kind: 'attribute', scope: 'span', name: 'http.method' });
    assert.deepEqual(parseField('.service.name'), { kind: 'attribute', scope: 'unscoped', name: 'service.name' });
    assert.deepEqual(parseField('status'), { kind: 'intrinsic', name: 'status' });
    assert.throws(() => parseField('service.name'), TraceQLError);
  });
});
