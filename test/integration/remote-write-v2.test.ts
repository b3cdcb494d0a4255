// Prometheus remote-write 2.0 end to end: io.prometheus.write.v2.Request bodies (encoded by protobufjs from
// the spec's types.proto fields, snappy-compressed by the native `snappy` package) POSTed with fetch to
// /api/v1/write on a real meshlens, as a Prometheus with `protobuf_message: io.prometheus.write.v2.Request`
// sends them. Istio bookinfo over two pushes gives the edges the 1.0 test (remote-write.test.ts) asserts;
// each 204 carries the Written headers; an unknown message is 415, truncated bytes and a bad ref are 400.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { compressSync } from 'snappy';
import type { PromSample } from '../../collector/prometheus/samples.ts';
import { edgeCounts, graphEdgesUntil, ownMetric, startTestMeshlens, totalRequests, type TestMeshlens } from '../helpers/meshlens.ts';
import { ISTIO_BOOKINFO_EDGES, istioBookinfo } from '../helpers/mesh-series.ts';

let meshlens: TestMeshlens;
let writeUrl: string;
before(async () => {
  meshlens = await startTestMeshlens({ overrides: { 'graph.flush_interval': '300ms', 'limits.max_body_bytes': '1MiB' } });
  writeUrl = `${meshlens.otlpHttpUrl}/api/v1/write`;
});
after(async () => {
  await meshlens.destroy();
});

const REQUEST = protobuf.parse(`
  syntax = "proto3";
  package io.prometheus.write.v2;
  message Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
  message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3; }
  message Sample { double value = 1; int64 timestamp = 2; }
  message Histogram { uint64 count_int = 1; double sum = 3; int64 timestamp = 15; }
`).root.lookupType('io.prometheus.write.v2.Request');

/** Samples with the target labels Prometheus adds, as one v2 Request: symbols[0] = "", labels sorted. */
function encodeV2(samples: readonly PromSample[], timestampMs: number, histogramSeries = 0): Uint8Array {
  const symbols = [''];
  const refOf = (text: string) => {
    let ref = symbols.indexOf(text);
    if (ref < 0) ref = symbols.push(text) - 1;
    return ref;
  };
  const refsOf = (labels: Record<string, string>) => Object.keys(labels).sort().flatMap((name) => [refOf(name), refOf(labels[name]!)]);
  const timeseries: Array<Record<string, unknown>> = samples.map((s) => {
    const workload = s.labels.reporter === 'source' ? s.labels.source_workload : s.labels.destination_workload;
    const labels = { __name__: s.name, ...s.labels, job: 'kubernetes-pods', instance: `${workload ?? 'x'}:15020` };
    return { labelsRefs: refsOf(labels), samples: [{ value: s.value, timestamp: timestampMs }] };
  });
  for (let i = 0; i < histogramSeries; i++) timeseries.push({ labelsRefs: refsOf({ __name__: 'istio_request_duration_milliseconds', pod: `p${i}` }), histograms: [{ countInt: 4, sum: 2, timestamp: timestampMs }] });
  return REQUEST.encode(REQUEST.fromObject({ symbols, timeseries })).finish();
}

const V2_HEADERS = { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '2.0.0' };
const post = (body: Uint8Array, headers: Record<string, string> = V2_HEADERS) => fetch(writeUrl, { method: 'POST', headers, body });
const written = (response: Response) => ['Samples', 'Histograms', 'Exemplars'].map((kind) => response.headers.get(`x-prometheus-remote-write-${kind.toLowerCase()}-written`));


describe('Prometheus remote-write 2.0 (io.prometheus.write.v2.Request on POST /api/v1/write)', () => {
  it('Istio series: a baseline, then each call counted once, as with 1.0; the 204 says what was written', async () => {
    const t1 = Date.now();
    const first = istioBookinfo(0);
    const baseline = await post(compressSync(encodeV2(first, t1 - 15_000, 2)));
    assert.equal(baseline.status, 204, await baseline.text());
    // Every float sample of a named series is accepted; native histograms are skipped, so none written.
    assert.deepEqual(written(baseline), [String(first.length), '0', '0']);
    const second = await post(compressSync(encodeV2(istioBookinfo(1), t1)));
    assert.equal(second.status, 204);
    assert.deepEqual(written(second), [String(istioBookinfo(1).length), '0', '0']);
    const edges = await graphEdgesUntil(meshlens.queryUrl, 'prometheus', 'bookinfo', (e) => totalRequests(e) === 252);
    assert.deepEqual(edgeCounts(edges), ISTIO_BOOKINFO_EDGES);
    const series = await ownMetric(meshlens.queryUrl, 'meshlens_remote_write_series_total');
    assert.equal(series.get('{result="received"}'), first.length + 2 + istioBookinfo(1).length, 'float samples and the 2 histogram samples');
    assert.ok((series.get('{result="skipped"}') ?? 0) >= 2);
  });

  it('refuses an unknown message (415), truncated bytes and a ref out of range (400); the next push works', async () => {
    const bad = await ownMetric(meshlens.queryUrl, 'meshlens_bad_requests_total');
    const encoded = encodeV2(istioBookinfo(1).slice(0, 4), Date.now());

    const unknown = await post(compressSync(encoded), { ...V2_HEADERS, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v3.Request' });
    assert.equal(unknown.status, 415);
    assert.equal(
      await unknown.text(),
      'unsupported remote-write message "io.prometheus.write.v3.request"; accepted: prometheus.WriteRequest (remote-write 1.0), io.prometheus.write.v2.Request (remote-write 2.0)\n',
    );
    assert.equal(unknown.headers.get('x-prometheus-remote-write-samples-written'), null);

    const truncated = await post(compressSync(encoded.subarray(0, encoded.length - 7)));
    assert.equal(truncated.status, 400);
    assert.match(await truncated.text(), /^body is not an io\.prometheus\.write\.v2\.Request \(remote-write 2\.0\): .+\n$/);

    const badRef = REQUEST.encode(REQUEST.fromObject({ symbols: ['', '__name__', 'istio_requests_total'], timeseries: [{ labelsRefs: [1, 9], samples: [{ value: 1, timestamp: Date.now() }] }] })).finish();
    const outOfRange = await post(compressSync(badRef));
    assert.equal(outOfRange.status, 400);
    assert.equal(await outOfRange.text(), 'body is not an io.prometheus.write.v2.Request (remote-write 2.0): timeseries 0: label ref 9 is out of range (3 symbols)\n');

    const after = await ownMetric(meshlens.queryUrl, 'meshlens_bad_requests_total');
    const delta = (reason: string) => (after.get(`{receiver="remote-write",reason="${reason}"}`) ?? 0) - (bad.get(`{receiver="remote-write",reason="${reason}"}`) ?? 0);
    assert.deepEqual({ decode: delta('decode'), media_type: delta('media_type') }, { decode: 2, media_type: 1 });

    const good = await post(compressSync(encoded));
    assert.equal(good.status, 204);
    assert.deepEqual(written(good), ['4', '0', '0']);
  });
});
