// Envoy cluster names of each mesh → the destination they stand for (mesh-telemetry.md §2.1).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCluster } from './clusters.ts';

const parsed = (name: string, hints = {}) => {
  const d = parseCluster(name, hints);
  return d === null ? null : `${d.mesh} ${d.namespace}/${d.name}${d.version ? `@${d.version}` : ''}:${d.port}${d.inMesh ? '' : ' (outside)'}`;
};

describe('parseCluster', () => {
  it('Istio outbound clusters, with subset, in stat names, and external hosts', () => {
    assert.equal(parsed('outbound|9080||reviews.bookinfo.svc.cluster.local'), 'istio bookinfo/reviews:9080');
    assert.equal(parsed('outbound|9080|v2|reviews.bookinfo.svc.cluster.local'), 'istio bookinfo/reviews@v2:9080');
    assert.equal(parsed('outbound|9080||reviews.bookinfo.svc.cluster.local;'), 'istio bookinfo/reviews:9080', "the ';' of Istio's stat names");
    assert.equal(parsed('outbound|443||api.github.com'), 'istio /api.github.com:443 (outside)');
  });

  it('Consul upstream clusters: subset, hash prefix, trust domain with dots', () => {
    assert.equal(parsed('reviews.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul'), 'consul default/reviews:0');
    assert.equal(parsed('v2.reviews.default.dc1.internal.11111111-2222-3333-4444-555555555555.consul'), 'consul default/reviews@v2:0');
    assert.equal(parsed('a1b2c3d4~ratings.shop.dc2.internal.td.example.consul'), 'consul shop/ratings:0');
    assert.equal(parsed('billing.default.dc1.external.td.consul'), 'consul default/billing:0 (outside)');
  });

  it('App Mesh egress clusters, with and without the mesh name known', () => {
    assert.equal(parsed('cds_egress_bookinfo_details_http_9080'), 'appmesh bookinfo/details:9080', 'outside Kubernetes: the mesh is the namespace');
    assert.equal(parsed('cds_egress_my_mesh_details_http_9080', { appMeshName: 'my_mesh' }), 'appmesh my_mesh/details:9080');
    assert.equal(parsed('cds_egress_howto_colorteller-blue_howto-k8s_http_8080'), 'appmesh howto-k8s/colorteller-blue:8080', 'EKS: <name>_<namespace>');
    assert.equal(parsed('cds_egress_bookinfo_amazonaws'), null);
  });

  it('Kuma legacy and kri clusters', () => {
    assert.equal(parsed('backend_kuma-demo_svc_3001'), 'kuma kuma-demo/backend:3001');
    assert.equal(parsed('kri_msvc_default_zone-1_kuma-demo_backend_3001'), 'kuma kuma-demo/backend:3001');
    assert.equal(parsed('kri_msvc_default__kuma-demo_redis_main'), 'kuma kuma-demo/redis:0', 'no zone, a named section');
  });

  it('what is not a destination parses to null; anything else is kept as a name', () => {
    for (const name of ['inbound|9080||', 'PassthroughCluster', 'BlackHoleCluster', 'xds-grpc', 'local_app', 'public_listener', 'cds_ingress_bookinfo_details_http_9080', 'kuma:envoy:admin', 'localhost:3001', '']) {
      assert.equal(parseCluster(name), null, name);
    }
    assert.equal(parsed('legacy-backend'), 'other /legacy-backend:0 (outside)');
  });
});
