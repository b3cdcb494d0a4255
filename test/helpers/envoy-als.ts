// Builds Envoy access-log messages the way Istio's sidecars send them (envoyHttpAls / envoyTcpAls),
// as plain objects in the shape @grpc/proto-loader serializes (keepCase): the unit and integration tests
// encode them with Envoy's own protos (alsProtoLoader()).
import type * as grpc from '@grpc/grpc-js';
import { type PackageDefinition, loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { envoyProtoIncludeDirs } from '../../collector/receivers/envoy-als.ts';

/** google.protobuf.Struct as protobufjs ships it. */
export const StructType = protobuf.Root.fromJSON(protobuf.common.get('google/protobuf/struct.proto')!).lookupType('google.protobuf.Struct');

let alsProtos: { definition: PackageDefinition; method: grpc.MethodDefinition<object, object> } | undefined;

/**
 * StreamAccessLogs' serializer and deserializer as @grpc/proto-loader builds them from Envoy's own protos
 * (keepCase, longs as String, enums as String, defaults, oneofs — how the receiver decoded messages before
 * it read them itself): the encoder of the tests, and the generic decoder that access-log-proto.ts is
 * checked against (with the definition's descriptors: field and enum numbers).
 */
export function alsProtoLoader(): { encode(message: object): Buffer; decode(bytes: Buffer): Record<string, unknown>; definition: PackageDefinition } {
  if (alsProtos === undefined) {
    const definition = loadSync('envoy/service/accesslog/v3/als.proto', { includeDirs: envoyProtoIncludeDirs(), keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    alsProtos = { definition, method: (definition['envoy.service.accesslog.v3.AccessLogService'] as grpc.ServiceDefinition)['StreamAccessLogs']! };
  }
  const { definition, method } = alsProtos;
  return { encode: (message) => method.requestSerialize(message), decode: (bytes) => method.requestDeserialize(bytes) as Record<string, unknown>, definition };
}

export const TRUST_DOMAIN = 'cluster.local';

export interface Workload {
  pod: string;
  namespace: string;
  workload: string;
  app: string;
  version?: string;
  serviceAccount: string;
  ip: string;
}

export const productpage: Workload = { pod: 'productpage-v1-6b746f74dc-9stvs', namespace: 'bookinfo', workload: 'productpage-v1', app: 'productpage', version: 'v1', serviceAccount: 'bookinfo-productpage', ip: '10.1.0.5' };
export const reviews = (version: 'v1' | 'v2' | 'v3'): Workload => ({
  pod: `reviews-${version}-7d9c8f6b5d-k8s${version}`,
  namespace: 'bookinfo',
  workload: `reviews-${version}`,
  app: 'reviews',
  version,
  serviceAccount: 'bookinfo-reviews',
  ip: `10.1.0.${10 + Number(version[1])}`,
});
export const ratings: Workload = { pod: 'ratings-v1-85c6b8d5f9-x2k4p', namespace: 'bookinfo', workload: 'ratings-v1', app: 'ratings', version: 'v1', serviceAccount: 'bookinfo-ratings', ip: '10.1.0.20' };
export const mysqldb: Workload = { pod: 'mysqldb-v1-6c7f9d8b4-qq7zt', namespace: 'bookinfo', workload: 'mysqldb-v1', app: 'mysqldb', version: 'v1', serviceAccount: 'default', ip: '10.1.0.30' };

const str = (stringValue: string) => ({ stringValue });

/** Envoy's config.core.v3.Node for a sidecar, with Istio's metadata (omit it to test the id fallback). */
export function sidecarNode(w: Workload, withMetadata = true) {
  return {
    id: `sidecar~${w.ip}~${w.pod}.${w.namespace}~${w.namespace}.svc.cluster.local`,
    cluster: `${w.app}.${w.namespace}`,
    ...(withMetadata
      ? {
          metadata: {
            fields: {
              NAME: str(w.pod),
              NAMESPACE: str(w.namespace),
              WORKLOAD_NAME: str(w.workload),
              CLUSTER_ID: str('Kubernetes'),
              MESH_ID: str('cluster.local'),
              LABELS: { structValue: { fields: { app: str(w.app), ...(w.version ? { version: str(w.version) } : {}), 'service.istio.io/canonical-name': str(w.app), 'service.istio.io/canonical-revision': str(w.version ?? 'latest') } } },
            },
          },
        }
      : {}),
  };
}

/** Istio's peer metadata filter-state object (extensions/common/metadata_object.cc) as ALS logs it. */
export function peerObject(w: Workload) {
  const fields = {
    type: str('deployment'),
    workload: str(w.workload),
    name: str(w.pod),
    cluster: str('Kubernetes'),
    namespace: str(w.namespace),
    // Istio's peer metadata: `service`/`revision` are the canonical service and revision.
    service: str(w.app),
    revision: str(w.version ?? 'latest'),
    app: str(w.app),
    ...(w.version ? { version: str(w.version) } : {}),
    identity: str(spiffe(w)),
  };
  return { type_url: 'type.googleapis.com/google.protobuf.Struct', value: Buffer.from(StructType.encode(StructType.fromObject({ fields })).finish()) };
}

export const spiffe = (w: Workload) => `spiffe://${TRUST_DOMAIN}/ns/${w.namespace}/sa/${w.serviceAccount}`;

export const outboundCluster = (service: string, port: number, namespace = 'bookinfo', subset = '') => `outbound|${port}|${subset}|${service}.${namespace}.svc.cluster.local`;
export const inboundCluster = (port: number) => `inbound|${port}||`;

const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) });

export interface CommonSpec {
  cluster: string;
  startMs: number;
  durationMs?: number;
  upstreamPeer?: Workload;
  downstreamPeer?: Workload;
  /** The peer certificate's URI SAN (inbound mTLS). */
  peerSan?: string;
  flags?: Record<string, boolean>;
  intermediate?: boolean;
  sampleRate?: number;
  accessLogType?: string | number;
}

export function common(c: CommonSpec) {
  const filterState: Record<string, ReturnType<typeof peerObject>> = {};
  if (c.upstreamPeer) filterState['upstream_peer'] = peerObject(c.upstreamPeer);
  if (c.downstreamPeer) filterState['downstream_peer'] = peerObject(c.downstreamPeer);
  return {
    ...(c.sampleRate !== undefined ? { sample_rate: c.sampleRate } : {}),
    downstream_remote_address: { socket_address: { address: '10.1.0.99', port_value: 40000 } },
    ...(c.peerSan ? { tls_properties: { tls_version: 'TLSv1_3', peer_certificate_properties: { subject_alt_name: [{ uri: c.peerSan }] } } } : {}),
    start_time: { seconds: Math.floor(c.startMs / 1000), nanos: (c.startMs % 1000) * 1e6 },
    ...(c.durationMs !== undefined ? { duration: duration(c.durationMs), time_to_last_downstream_tx_byte: duration(c.durationMs) } : {}),
    upstream_cluster: c.cluster,
    ...(c.flags ? { response_flags: c.flags } : {}),
    filter_state_objects: filterState,
    ...(c.intermediate ? { intermediate_log_entry: true } : {}),
    ...(c.accessLogType !== undefined ? { access_log_type: c.accessLogType } : {}),
  };
}

export interface HttpSpec extends CommonSpec {
  code: number;
  grpcStatus?: number;
  requestId?: string;
  traceparent?: string;
  protocolVersion?: string | number;
  requestBytes?: number;
  responseBytes?: number;
}

export function httpEntry(h: HttpSpec) {
  const grpc = h.grpcStatus !== undefined;
  return {
    common_properties: common(h),
    protocol_version: h.protocolVersion ?? (grpc ? 'HTTP2' : 'HTTP11'),
    request: {
      request_method: grpc ? 'POST' : 'GET',
      scheme: 'http',
      authority: h.cluster.split('|')[3] ?? 'unknown',
      path: grpc ? '/ratings.Ratings/Get' : '/reviews/0',
      request_id: h.requestId ?? '5f0a5c5e-0000-4000-8000-000000000000',
      request_body_bytes: h.requestBytes ?? 0,
      request_headers: { ...(grpc ? { 'content-type': 'application/grpc' } : {}), ...(h.traceparent ? { traceparent: h.traceparent } : {}) },
    },
    response: {
      response_code: { value: h.code },
      response_body_bytes: h.responseBytes ?? 295,
      ...(grpc ? { response_trailers: { 'grpc-status': String(h.grpcStatus) } } : {}),
    },
  };
}

export function tcpEntry(c: CommonSpec & { received?: number; sent?: number }) {
  return { common_properties: common(c), connection_properties: { received_bytes: c.received ?? 120, sent_bytes: c.sent ?? 4096 } };
}

export function identifier(w: Workload, logName = 'http_envoy_accesslog', withMetadata = true) {
  return { node: sidecarNode(w, withMetadata), log_name: logName };
}
