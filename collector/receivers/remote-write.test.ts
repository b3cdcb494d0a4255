// decodeRemoteWrite against bodies the real `prometheus-remote-write` client encodes (its own prom.proto and
// protobufjs code, snappyjs block format): every label, sample and int64 timestamp read back; series without
// a name skipped; every truncation of a body, bad snappy and a too-large declared size refused as bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { serialize } from 'prometheus-remote-write';
import snappy from 'snappyjs';
import { BadRequestError } from '../otlp/traces.ts';
import { PrometheusEdgeConverter, readsSample } from '../prometheus/mesh-series.ts';
import { RemoteWriteV2LabelSets } from '../prometheus/remote-write-v2.ts';
import type { PromSample } from '../prometheus/samples.ts';
import { istioBookinfo } from '../../test/helpers/mesh-series.ts';
import { RemoteWriteLabelSets, decodeRemoteWrite, decodeRemoteWriteV2 } from './remote-write.ts';

const T = 1_764_140_400_123;

async function encode(timeseries: Array<{ labels: Record<string, string>; samples: Array<{ value: number; timestamp: number }> }>): Promise<Uint8Array> {
  const request = { timeseries: timeseries.map((t) => ({ labels: Object.entries(t.labels).map(([name, value]) => ({ name, value })), samples: t.samples })) };
  return new Uint8Array(await serialize(request as unknown as Parameters<typeof serialize>[0]));
}

const compressed = (bytes: Uint8Array) => Buffer.from(snappy.compress(bytes));

function decodeError(body: Buffer, maxBodyBytes = 1 << 20): BadRequestError {
  try {
    decodeRemoteWrite(body, maxBodyBytes);
  } catch (error) {
    assert.ok(error instanceof BadRequestError, `not a BadRequestError: ${String(error)}`);
    return error;
  }
  assert.fail('decoded');
}

describe('decodeRemoteWrite', () => {
  it('reads every series, label and sample the client wrote; a series without __name__ is skipped', async () => {
    const bytes = await encode([
      { labels: { __name__: 'istio_requests_total', job: 'pods', reporter: 'source', 'quoted "ünïcode"': 'a\nb' }, samples: [{ value: 12, timestamp: T }, { value: 15.5, timestamp: T + 15_000 }] },
      { labels: { job: 'pods', le: '+Inf' }, samples: [{ value: 1, timestamp: T }] },
      { labels: { __name__: 'up' }, samples: [{ value: Number.NaN, timestamp: T }] },
    ]);
    const { samples, unnamed } = decodeRemoteWrite(compressed(bytes), 1 << 20);
    assert.equal(unnamed, 1);
    assert.equal(samples.length, 3);
    assert.deepEqual(samples.slice(0, 2), [
      { name: 'istio_requests_total', labels: { job: 'pods', reporter: 'source', 'quoted "ünïcode"': 'a\nb' }, value: 12, timestampMs: T },
      { name: 'istio_requests_total', labels: { job: 'pods', reporter: 'source', 'quoted "ünïcode"': 'a\nb' }, value: 15.5, timestampMs: T + 15_000 },
    ]);
    assert.equal(samples[2]!.name, 'up');
    assert.ok(Number.isNaN(samples[2]!.value), 'a stale marker stays NaN');
    // An empty request (what a metadata-only send leaves) is fine.
    assert.deepEqual(decodeRemoteWrite(compressed(new Uint8Array(0)), 1 << 20), { samples: [], unnamed: 0, skipped: 0 });
  });

  it('with `reads`, series of other names are counted as skipped, not decoded; label sets decoded before are handed out again', async () => {
    const series: Array<{ labels: Record<string, string>; samples: Array<{ value: number; timestamp: number }> }> = [
      { labels: { __name__: 'envoy_server_live', job: 'pods' }, samples: [{ value: 1, timestamp: T }, { value: 1, timestamp: T + 15_000 }] },
      { labels: { __name__: 'istio_requests_total', job: 'pods', reporter: 'source' }, samples: [{ value: 12, timestamp: T }] },
      { labels: { __name__: 'response_latency_ms_bucket', job: 'pods', le: '10' }, samples: [{ value: 3, timestamp: T }] },
      { labels: { job: 'pods' }, samples: [{ value: 1, timestamp: T }] },
    ];
    const body = compressed(await encode(series));
    const all = decodeRemoteWrite(body, 1 << 20);
    assert.deepEqual(all.samples.map((s) => s.name), ['envoy_server_live', 'envoy_server_live', 'istio_requests_total', 'response_latency_ms_bucket']);
    const labelSets = new RemoteWriteLabelSets(10);
    const first = decodeRemoteWrite(body, 1 << 20, { reads: readsSample, labelSets });
    assert.deepEqual(first, { samples: all.samples.slice(2), unnamed: 1, skipped: 2 });
    const second = decodeRemoteWrite(body, 1 << 20, { reads: readsSample, labelSets });
    assert.deepEqual(second, first);
    assert.equal(second.samples[0]!.labels, first.samples[0]!.labels, 'the same series: the same labels object');
    assert.equal(second.samples[1]!.labels, first.samples[1]!.labels);
    // Another series with a label set of the same length is not mistaken for a known one.
    const other = decodeRemoteWrite(compressed(await encode([{ labels: { __name__: 'istio_requests_total', job: 'pods', reporter: 'destin' }, samples: [{ value: 1, timestamp: T }] }])), 1 << 20, { labelSets });
    assert.deepEqual(other.samples[0]!.labels, { job: 'pods', reporter: 'destin' });
    // Past its size the oldest generation is forgotten: still decoded right, as a new object.
    const small = new RemoteWriteLabelSets(1);
    const a = decodeRemoteWrite(body, 1 << 20, { labelSets: small });
    const b = decodeRemoteWrite(body, 1 << 20, { labelSets: small });
    assert.deepEqual(b, a);
    assert.notEqual(b.samples[2]!.labels, a.samples[2]!.labels);
  });

  it('finds series sent before in any order and skips unread names in any encoding; a label after a sample still belongs to it', () => {
    // Hand-written wire bytes: layouts the Prometheus client never makes, which the fast paths must not misread.
    const label = (name: string, value: string, valueFirst = false) => {
      const writer = protobuf.Writer.create();
      if (valueFirst) writer.uint32((2 << 3) | 2).string(value).uint32((1 << 3) | 2).string(name);
      else writer.uint32((1 << 3) | 2).string(name).uint32((2 << 3) | 2).string(value);
      return writer.finish();
    };
    const sample = (value: number, timestamp: number) => protobuf.Writer.create().uint32((1 << 3) | 1).double(value).uint32((2 << 3) | 0).int64(timestamp).finish();
    const request = (series: Array<Array<['label' | 'sample', Uint8Array]>>) => {
      const writer = protobuf.Writer.create();
      for (const fields of series) {
        writer.uint32((1 << 3) | 2).fork();
        for (const [kind, bytes] of fields) writer.uint32(((kind === 'label' ? 1 : 2) << 3) | 2).bytes(bytes);
        writer.ldelim();
      }
      return compressed(writer.finish());
    };
    const requests = (source: string) => [
      ['label', label('__name__', 'istio_requests_total')],
      ['label', label('reporter', 'source')],
      ['label', label('source_workload', source)],
      ['sample', sample(5, T)],
    ] as Array<['label' | 'sample', Uint8Array]>;
    const [a, b, c] = [requests('a'), requests('b'), requests('c')];
    const labelSets = new RemoteWriteLabelSets(100);
    const options = { reads: readsSample, labelSets };
    const first = decodeRemoteWrite(request([a, b, c]), 1 << 20, options);
    assert.deepEqual(first.samples.map((s) => s.labels.source_workload), ['a', 'b', 'c']);
    // The same series in another order (every guess of "the next series" wrong): still the same objects.
    const reordered = decodeRemoteWrite(request([c, a, b]), 1 << 20, options);
    assert.deepEqual(reordered.samples.map((s) => s.labels.source_workload), ['c', 'a', 'b']);
    assert.equal(reordered.samples[0]!.labels, first.samples[2]!.labels);
    assert.equal(reordered.samples[1]!.labels, first.samples[0]!.labels);
    assert.equal(reordered.samples[2]!.labels, first.samples[1]!.labels);
    // A series that starts with a known one's labels and has one more is another series.
    const longer = decodeRemoteWrite(request([a, [...b.slice(0, 3), ['label', label('zone', 'z')], b[3]!]]), 1 << 20, options);
    assert.deepEqual(longer.samples[1]!.labels, { reporter: 'source', source_workload: 'b', zone: 'z' });
    assert.notEqual(longer.samples[1]!.labels, first.samples[1]!.labels);

    // `__name__` written value first: an unread name is skipped all the same, a read one decoded.
    const valueFirst = decodeRemoteWrite(
      request([
        [['label', label('__name__', 'envoy_server_live', true)], ['sample', sample(1, T)], ['sample', sample(1, T + 1)]],
        [['label', label('__name__', 'istio_requests_total', true)], ['label', label('reporter', 'source')], ['sample', sample(2, T)]],
      ]),
      1 << 20,
      options,
    );
    assert.equal(valueFirst.skipped, 2);
    assert.deepEqual(valueFirst.samples, [{ name: 'istio_requests_total', labels: { reporter: 'source' }, value: 2, timestampMs: T }]);

    // A label after the samples (and the name last): every sample gets the series' whole label set.
    const late = decodeRemoteWrite(request([[['sample', sample(7, T)], ['label', label('reporter', 'source')], ['sample', sample(8, T + 1)], ['label', label('__name__', 'istio_requests_total')]]]), 1 << 20, options);
    assert.deepEqual(late.samples, [
      { name: 'istio_requests_total', labels: { reporter: 'source' }, value: 7, timestampMs: T },
      { name: 'istio_requests_total', labels: { reporter: 'source' }, value: 8, timestampMs: T + 1 },
    ]);
    // A negative timestamp (ten bytes on the wire) is no timestamp.
    const negative = decodeRemoteWrite(request([[['label', label('__name__', 'istio_requests_total')], ['sample', sample(3, -5)]]]), 1 << 20, options);
    assert.deepEqual(negative.samples, [{ name: 'istio_requests_total', labels: {}, value: 3 }]);
  });

  it('refuses every truncation of a body as a bad WriteRequest, or reads the whole series before the cut', async () => {
    const bytes = await encode([
      { labels: { __name__: 'request_total', direction: 'outbound', dst_deployment: 'details-v1' }, samples: [{ value: 3, timestamp: T }] },
      { labels: { __name__: 'response_total', direction: 'outbound', status_code: '500' }, samples: [{ value: 4, timestamp: T }] },
    ]);
    let refused = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      try {
        const { samples } = decodeRemoteWrite(compressed(bytes.subarray(0, cut)), 1 << 20, { reads: readsSample, labelSets: new RemoteWriteLabelSets(10) });
        // Only a cut right after the first series reads as a (shorter) valid request.
        assert.deepEqual(samples.map((s) => s.name), ['request_total'], `cut at ${cut}`);
      } catch (error) {
        assert.ok(error instanceof BadRequestError && error.reason === 'decode', `cut at ${cut}: ${String(error)}`);
        assert.match(error.message, /^body is not a prometheus\.WriteRequest \(remote-write 1\.0\): /);
        refused++;
      }
    }
    assert.equal(refused, bytes.length - 2);
  });

  it('refuses what is not snappy, and a declared size over the limit before inflating it', async () => {
    assert.match(decodeError(Buffer.from('not snappy')).message, /^body is not snappy \(block format\): /);
    assert.match(decodeError(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).message, /^body is not snappy \(block format\): no length header$/);
    const body = compressed(await encode([{ labels: { __name__: 'x', pad: 'y'.repeat(5000) }, samples: [{ value: 1, timestamp: T }] }]));
    const tooLarge = decodeError(body, 1000);
    assert.equal(tooLarge.reason, 'too_large');
    assert.match(tooLarge.message, /over limits\.max_body_bytes \(1000 bytes after decompression; snappy header says 50\d\d\)/);
  });
});

// Remote-write 2.0 messages as the spec's types.proto has them (io.prometheus.write.v2), encoded by protobufjs.
const V2_TYPES = protobuf.parse(`
  syntax = "proto3";
  package io.prometheus.write.v2;
  message Request { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
  message TimeSeries {
    repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3;
    repeated Exemplar exemplars = 4; int64 created_timestamp = 6;
  }
  message Sample { double value = 1; int64 timestamp = 2; }
  message Histogram { uint64 count_int = 1; double sum = 3; int64 timestamp = 15; }
  message Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
`).root.lookupType('io.prometheus.write.v2.Request');

interface V2Series {
  labels: Record<string, string>;
  samples: Array<{ value: number; timestamp: number }>;
  histograms?: number;
  exemplars?: number;
}

/** A v2 Request of these series: symbols[0] = "", every string once, labels sorted as Prometheus sends them. */
function encodeV2(series: readonly V2Series[], symbolsFirst = ['']): Uint8Array {
  const symbols = [...symbolsFirst];
  const refOf = (text: string) => {
    let ref = symbols.indexOf(text);
    if (ref < 0) ref = symbols.push(text) - 1;
    return ref;
  };
  const timeseries = series.map((one) => ({
    labelsRefs: Object.entries(one.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([name, value]) => [refOf(name), refOf(value)]),
    samples: one.samples,
    histograms: Array.from({ length: one.histograms ?? 0 }, () => ({ countInt: 3, sum: 1.5, timestamp: T })),
    exemplars: Array.from({ length: one.exemplars ?? 0 }, () => ({ labelsRefs: [refOf('trace_id'), refOf('abc')], value: 1, timestamp: T })),
  }));
  return V2_TYPES.encode(V2_TYPES.fromObject({ symbols, timeseries })).finish();
}

function v2DecodeError(body: Buffer): BadRequestError {
  try {
    decodeRemoteWriteV2(body, 1 << 20);
  } catch (error) {
    assert.ok(error instanceof BadRequestError, `not a BadRequestError: ${String(error)}`);
    return error;
  }
  assert.fail('decoded');
}

/** Samples as series of one sample each, with a target's labels, as Prometheus forwards them. */
const asSeries = (samples: readonly PromSample[], timestamp: number): V2Series[] =>
  samples.map((s) => ({ labels: { __name__: s.name, ...s.labels, job: 'kubernetes-pods', instance: `${s.labels.reporter ?? 'x'}:15020` }, samples: [{ value: s.value, timestamp }] }));

describe('decodeRemoteWriteV2', () => {
  it('Istio series over two pushes give exactly the edges the same series give as remote-write 1.0', async () => {
    const rounds = [asSeries(istioBookinfo(0), T), asSeries(istioBookinfo(1), T + 15_000)];
    const v1 = new PrometheusEdgeConverter({ maxSeries: 10_000 });
    const v2 = new PrometheusEdgeConverter({ maxSeries: 10_000 });
    const v1Sets = new RemoteWriteLabelSets(1000);
    const v2Sets = new RemoteWriteV2LabelSets(1000);
    let counted = 0;
    for (const [round, series] of rounds.entries()) {
      const one = decodeRemoteWrite(compressed(await encode(series)), 1 << 20, { reads: readsSample, labelSets: v1Sets });
      const two = decodeRemoteWriteV2(compressed(encodeV2(series)), 1 << 20, { reads: readsSample, labelSets: v2Sets });
      assert.deepEqual(two.samples, one.samples, `round ${round}: the same samples`);
      assert.deepEqual([two.skipped, two.unnamed, two.samplesAccepted], [one.skipped, one.unnamed, series.length]);
      const a = v1.convert({ source: 'remote-write', samples: one.samples, receivedAtMs: T + round * 15_000, labelsReused: true });
      const b = v2.convert({ source: 'remote-write', samples: two.samples, receivedAtMs: T + round * 15_000, labelsReused: true });
      assert.deepEqual(b, a, `round ${round}: the same increments and counts`);
      counted += b.increments.reduce((sum, i) => sum + i.requests, 0);
    }
    // The integration test's bookinfo figure: each call once (the reporter rule), from the second push.
    assert.equal(counted, 252);
    // The same series in a new request (other refs): the same labels objects.
    const again = decodeRemoteWriteV2(compressed(encodeV2(rounds[1]!.slice().reverse(), ['', 'zzz', 'job'])), 1 << 20, { reads: readsSample, labelSets: v2Sets });
    const before = decodeRemoteWriteV2(compressed(encodeV2(rounds[1]!)), 1 << 20, { reads: readsSample, labelSets: v2Sets });
    assert.equal(again.samples.at(-1)!.labels, before.samples[0]!.labels);
    assert.deepEqual(again.samples.slice().reverse(), before.samples);
    // A series with a known one's labels and one more (where the next series is guessed to be a known
    // one), or with a value of the same bytes moved to another label, is another series.
    const known = rounds[1]![0]!;
    const longer = decodeRemoteWriteV2(compressed(encodeV2([known, { ...known, labels: { ...known.labels, zone: 'z' } }])), 1 << 20, { labelSets: v2Sets });
    assert.deepEqual(longer.samples[1]!.labels, { ...longer.samples[0]!.labels, zone: 'z' });
    const moved = decodeRemoteWriteV2(compressed(encodeV2([{ labels: { __name__: 'istio_requests_total', ab: 'c' }, samples: [{ value: 1, timestamp: T }] }, { labels: { __name__: 'istio_requests_total', a: 'bc' }, samples: [{ value: 1, timestamp: T }] }])), 1 << 20, { labelSets: v2Sets });
    assert.deepEqual(moved.samples.map((s) => s.labels), [{ ab: 'c' }, { a: 'bc' }]);
    // Past its size (sets, and 8 symbol ids per set) all is forgotten: still decoded right, as new objects.
    const tiny = new RemoteWriteV2LabelSets(1);
    const body = compressed(encodeV2(rounds[1]!));
    const [x, y] = [decodeRemoteWriteV2(body, 1 << 20, { labelSets: tiny }), decodeRemoteWriteV2(body, 1 << 20, { labelSets: tiny })];
    assert.deepEqual(y, x);
    assert.deepEqual(y.samples, decodeRemoteWriteV2(body, 1 << 20).samples, 'as decoded without label sets');
    assert.equal(y.samples.length, rounds[1]!.length);
    assert.notEqual(y.samples[0]!.labels, x.samples[0]!.labels);
  });

  it('skips native histograms (counted), counts exemplars, reads unpacked refs and every sample of a series', () => {
    const body = encodeV2([
      { labels: { __name__: 'istio_requests_total', reporter: 'source' }, samples: [{ value: 1, timestamp: T }, { value: 2, timestamp: T + 1 }], exemplars: 2 },
      { labels: { __name__: 'istio_request_duration_milliseconds', reporter: 'source' }, samples: [], histograms: 3 },
      { labels: { __name__: 'envoy_server_live' }, samples: [{ value: 1, timestamp: T }] },
      { labels: { job: 'pods' }, samples: [{ value: 1, timestamp: T }] },
      { labels: { __name__: '' }, samples: [{ value: 1, timestamp: T }] },
    ]);
    const decoded = decodeRemoteWriteV2(compressed(body), 1 << 20, { reads: readsSample });
    assert.deepEqual(decoded.samples, [
      { name: 'istio_requests_total', labels: { reporter: 'source' }, value: 1, timestampMs: T },
      { name: 'istio_requests_total', labels: { reporter: 'source' }, value: 2, timestampMs: T + 1 },
    ]);
    assert.deepEqual({ ...decoded, samples: undefined }, { samples: undefined, unnamed: 2, skipped: 4, samplesAccepted: 3, histograms: 3, exemplars: 2 });

    // labels_refs unpacked (one varint field per ref), which a proto3 parser must accept as well.
    const writer = protobuf.Writer.create();
    for (const symbol of ['', '__name__', 'istio_requests_total', 'reporter', 'source']) writer.uint32((4 << 3) | 2).string(symbol);
    writer.uint32((5 << 3) | 2).fork();
    for (const ref of [1, 2, 3, 4]) writer.uint32((1 << 3) | 0).uint32(ref);
    writer.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 1).double(7).uint32((2 << 3) | 0).int64(T).ldelim();
    writer.ldelim();
    assert.deepEqual(decodeRemoteWriteV2(compressed(writer.finish()), 1 << 20).samples, [{ name: 'istio_requests_total', labels: { reporter: 'source' }, value: 7, timestampMs: T }]);
    assert.deepEqual(decodeRemoteWriteV2(compressed(new Uint8Array(0)), 1 << 20), { samples: [], unnamed: 0, skipped: 0, samplesAccepted: 0, histograms: 0, exemplars: 0 });
  });

  it('refuses a ref out of range, an odd labels_refs and every truncation as a bad v2 Request', () => {
    const outOfRange = V2_TYPES.encode(V2_TYPES.fromObject({ symbols: ['', '__name__', 'up'], timeseries: [{ labelsRefs: [1, 2] }, { labelsRefs: [1, 7], samples: [{ value: 1, timestamp: T }] }] })).finish();
    assert.equal(v2DecodeError(compressed(outOfRange)).message, 'body is not an io.prometheus.write.v2.Request (remote-write 2.0): timeseries 1: label ref 7 is out of range (3 symbols)');
    const odd = V2_TYPES.encode(V2_TYPES.fromObject({ symbols: ['', '__name__', 'up'], timeseries: [{ labelsRefs: [1, 2, 1] }] })).finish();
    assert.equal(v2DecodeError(compressed(odd)).message, 'body is not an io.prometheus.write.v2.Request (remote-write 2.0): timeseries 0: labels_refs has an odd length (3)');

    const bytes = encodeV2([
      { labels: { __name__: 'istio_requests_total', reporter: 'source', source_workload: 'productpage-v1' }, samples: [{ value: 3, timestamp: T }] },
      { labels: { __name__: 'istio_requests_total', reporter: 'destination', source_workload: 'productpage-v1' }, samples: [{ value: 4, timestamp: T }] },
    ]);
    // Symbols come first: a cut inside the series part may leave a shorter valid request (the first series).
    let refused = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      try {
        const { samples } = decodeRemoteWriteV2(compressed(bytes.subarray(0, cut)), 1 << 20, { reads: readsSample, labelSets: new RemoteWriteV2LabelSets(10) });
        assert.ok(samples.length <= 1, `cut at ${cut}`);
      } catch (error) {
        assert.ok(error instanceof BadRequestError && error.reason === 'decode', `cut at ${cut}: ${String(error)}`);
        assert.match(error.message, /^body is not an io\.prometheus\.write\.v2\.Request \(remote-write 2\.0\): /);
        refused++;
      }
    }
    assert.ok(refused >= bytes.length - 10, `${refused} of ${bytes.length - 1} cuts refused`);
    assert.match(v2DecodeError(Buffer.from('not snappy')).message, /^body is not snappy \(block format\): /);
  });
});
