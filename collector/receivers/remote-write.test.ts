// decodeRemoteWrite against bodies the real `prometheus-remote-write` client encodes (its own prom.proto and
// protobufjs code, snappyjs block format): every label, sample and int64 timestamp read back; series without
// a name skipped; every truncation of a body, bad snappy and a too-large declared size refused as bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serialize } from 'prometheus-remote-write';
import snappy from 'snappyjs';
import { BadRequestError } from '../otlp/traces.ts';
import { readsSample } from '../prometheus/mesh-series.ts';
import { RemoteWriteLabelSets, decodeRemoteWrite } from './remote-write.ts';

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
