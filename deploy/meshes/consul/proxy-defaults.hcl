# Consul service mesh (Envoy) -> meshlens, for every proxy: the global proxy-defaults config entry.
#   sed "s/MESHLENS_CLUSTER_IP/$MESHLENS_IP/" deploy/meshes/consul/proxy-defaults.hcl > /tmp/proxy-defaults.hcl
#   consul config write /tmp/proxy-defaults.hcl
# Consul on Kubernetes: apply proxy-defaults.yaml (the same entry as a CRD) instead.
# Keys: hashicorp/consul command/connect/envoy/bootstrap_config.go (envoy_dogstatsd_url,
# envoy_tracing_json, envoy_extra_static_clusters_json, envoy_extra_stats_sinks_json), Consul docs
# "Distributed tracing" and "OpenTelemetry Access Logging extension configuration reference".
# The envoy_* keys are read when a proxy's Envoy is bootstrapped: restart the proxies after writing this.
Kind = "proxy-defaults"
Name = "global"

Config {
  # L7 everywhere: HTTP request stats (upstream_rq_*), status codes and tracing need it.
  protocol = "http"

  # Signal: statsd (DogStatsD, UDP 8125). Consul tags every stat with consul.source.service and
  # consul.destination.service (+ namespace, datacenter): the caller and callee of each upstream
  # request, so no statsd.senders are needed. Envoy's sink takes an IP address, not a DNS name:
  # MESHLENS_CLUSTER_IP is the meshlens Service's ClusterIP (README.md shows how to fill it in).
  envoy_dogstatsd_url = "udp://MESHLENS_CLUSTER_IP:8125"

  # Signal: spans. Envoy's Zipkin tracer, proto3 body, to the static cluster below (:9411).
  envoy_tracing_json = <<EOF
{
  "http": {
    "name": "envoy.tracers.zipkin",
    "typedConfig": {
      "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
      "collector_cluster": "meshlens_zipkin",
      "collector_endpoint": "/api/v2/spans",
      "collector_endpoint_version": "HTTP_PROTO",
      "shared_span_context": false,
      "trace_id_128bit": true
    }
  }
}
EOF

  # The cluster the tracer sends to: meshlens by DNS, plain HTTP, outside the mesh.
  envoy_extra_static_clusters_json = <<EOF
{
  "name": "meshlens_zipkin",
  "type": "STRICT_DNS",
  "connect_timeout": "3s",
  "dns_lookup_family": "V4_ONLY",
  "lb_policy": "ROUND_ROBIN",
  "load_assignment": {
    "cluster_name": "meshlens_zipkin",
    "endpoints": [{
      "lb_endpoints": [{
        "endpoint": {
          "address": {
            "socket_address": { "address": "meshlens.observability.svc.cluster.local", "port_value": 9411, "protocol": "TCP" }
          }
        }
      }]
    }]
  }
}
EOF
}

# Signal: otlp-logs. An OTLP log record per outbound request of every proxy, sent over the mesh to the
# Consul service "meshlens" (:4317): meshlens must be registered in the mesh (README.md, meshlens-consul.yaml).
# The resource attribute cluster_name (Envoy's built-in label) names the proxy's service (the caller);
# the attributes below give callee, status and duration. Delete this block if meshlens is not in the mesh.
EnvoyExtensions = [
  {
    Name = "builtin/otel-access-logging"
    Arguments = {
      ProxyType    = "connect-proxy"
      ListenerType = "outbound"
      Config = {
        LogName = "meshlens"
        GrpcService = {
          Target = {
            Service = {
              Name = "meshlens"
            }
          }
        }
        Attributes = {
          upstream_cluster = "%UPSTREAM_CLUSTER%"
          response_code    = "%RESPONSE_CODE%"
          grpc_status      = "%GRPC_STATUS(NUMBER)%"
          duration         = "%DURATION%"
          bytes_received   = "%BYTES_RECEIVED%"
          bytes_sent       = "%BYTES_SENT%"
        }
      }
    }
  }
]
