// The PromQL subset: Grafana's exact Tempo service-graph queries parse to the expected trees; everything else
// is refused with a message that says what.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PromqlError, parseDuration, parsePromql } from './promql.ts';

describe('parsePromql', () => {
  it("parses the service-graph tab's queries (Grafana's makePromServiceMapRequest)", () => {
    assert.deepEqual(parsePromql('sum by (client, server) (rate(traces_service_graph_request_total{server="a"}[3600s]))'), {
      type: 'aggregate',
      op: 'sum',
      grouping: { labels: ['client', 'server'], without: false },
      expr: { type: 'range-call', fn: 'rate', rangeMs: 3_600_000, selector: { type: 'selector', metric: 'traces_service_graph_request_total', matchers: [{ label: 'server', op: '=', value: 'a' }] } },
    });
    assert.deepEqual(parsePromql('group by (client, connection_type, server) (traces_service_graph_request_total)'), {
      type: 'aggregate',
      op: 'group',
      grouping: { labels: ['client', 'connection_type', 'server'], without: false },
      expr: { type: 'selector', metric: 'traces_service_graph_request_total', matchers: [] },
    });
    const quantile = parsePromql('histogram_quantile(0.9, sum(rate(traces_service_graph_request_server_seconds_bucket{client="a",server="b"}[1m])) by (le, client, server))');
    assert.equal(quantile.type, 'histogram-quantile');
    assert.deepEqual(quantile.type === 'histogram-quantile' && quantile.expr.type === 'aggregate' && quantile.expr.grouping, { labels: ['le', 'client', 'server'], without: false });
    const joined = parsePromql('sum by (client, server) (rate(x{server="a"}[1h]) OR rate(x{client="a"}[1h]))');
    assert.ok(joined.type === 'aggregate' && joined.expr.type === 'binary' && joined.expr.op === 'or');
  });

  it('keeps arithmetic precedence and reads selectors by __name__', () => {
    const tree = parsePromql('1 + 2 * 3');
    assert.ok(tree.type === 'binary' && tree.op === '+' && tree.right.type === 'binary' && tree.right.op === '*');
    assert.deepEqual(parsePromql('{__name__=~"a|b", client!~"x.*"}'), {
      type: 'selector',
      metric: '',
      matchers: [
        { label: '__name__', op: '=~', value: 'a|b' },
        { label: 'client', op: '!~', value: 'x.*' },
      ],
    });
    assert.deepEqual(parsePromql("x{a='q\\\"uote'}"), { type: 'selector', metric: 'x', matchers: [{ label: 'a', op: '=', value: 'q"uote' }] });
  });

  it('reads every duration form Grafana substitutes for $__range', () => {
    assert.deepEqual(['250ms', '15s', '5m', '1h', '1h30m', '2d', '1w', '3600'].map(parseDuration), [250, 15_000, 300_000, 3_600_000, 5_400_000, 172_800_000, 604_800_000, 3_600_000]);
    assert.throws(() => parseDuration('5 minutes'), PromqlError);
  });

  it('refuses what it does not answer, saying what', () => {
    assert.throws(() => parsePromql('topk(5, x)'), /topk\(\) is not supported/);
    assert.throws(() => parsePromql('rate(x)'), /needs a range vector/);
    assert.throws(() => parsePromql('sum(x'), /expected "\)"/);
    assert.throws(() => parsePromql('{client="a"}'), /needs a metric name/);
    assert.throws(() => parsePromql('x{a=b}'), /quoted label value/);
    assert.throws(() => parsePromql(''), /empty query/);
  });
});
