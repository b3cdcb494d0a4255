// OTLP metrics conversion: the shapes the SDK round-trip test does not send (exponential histograms,
// summaries, enum names in OTLP/JSON), read alike from protobuf and JSON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertMetricsJson, convertMetricsProto } from './metrics.ts';
import { MetricsRequest } from './signals.ts';

const LIMITS = { spansPerRequest: 1000, attributesPerSpan: 128, attributeValueLength: 4096 };
const T = '1764140000000000000';

const request = {
  resourceMetrics: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }] },
      scopeMetrics: [
        {
          metrics: [
            {
              name: 'latency',
              unit: 's',
              exponentialHistogram: {
                aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA',
                dataPoints: [{ timeUnixNano: T, count: '7', sum: 3.5, scale: 0, zeroCount: '1', positive: { offset: 1, bucketCounts: ['2', '3'] }, negative: { bucketCounts: ['1'] } }],
              },
            },
            { name: 'rtt', summary: { dataPoints: [{ timeUnixNano: T, count: '4', sum: 10, quantileValues: [{ quantile: 0.5, value: 2 }, { quantile: 0.99, value: 5 }] }] } },
          ],
        },
      ],
    },
  ],
};

describe('convertMetrics', () => {
  it('reads exponential histograms onto explicit bounds and summaries as quantiles, from JSON and protobuf alike', () => {
    const fromJson = convertMetricsJson(JSON.stringify(request), LIMITS);
    const fromProto = convertMetricsProto(MetricsRequest.encode(MetricsRequest.fromObject(request)).finish(), LIMITS);
    for (const converted of [fromJson, fromProto]) {
      assert.equal(converted.rejected, 0);
      const [exponential, summary] = converted.points;
      // scale 0: base 2; positive buckets (2, 4] and (4, 8]; zero and negative counts below 2.
      assert.deepEqual(
        exponential && [exponential.type, exponential.temporality, exponential.unit, exponential.bounds, exponential.bucketCounts, exponential.count, exponential.sum],
        ['exponential_histogram', 1, 's', [2, 4, 8], [2, 2, 3, 0], 7, 3.5],
      );
      assert.deepEqual(summary && [summary.type, summary.quantiles, summary.quantileValues, summary.count], ['summary', [0.5, 0.99], [2, 5], 4]);
      assert.equal(exponential?.service, 'api');
    }
  });
});
