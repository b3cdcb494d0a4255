// Who sent a Zipkin span: the service name, namespace and version its Resource gets. Zipkin itself
// only has `localEndpoint.serviceName`, and each mesh packs more into it or into tags:
//
//   Istio   serviceName `<app>.<namespace>`; tags `istio.canonical_service`, `istio.namespace`,
//           `istio.canonical_revision` (the version label, `latest` when the pod has none)
//   Envoy   tag `node_id` = `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<cluster domain>`
//   Kuma    serviceName = the `kuma.io/service` tag, `<service>_<namespace>_svc_<port>`
//
// The rule, first match wins for each part (docs/receivers.md has it for users):
//   name      `istio.canonical_service`; else the Kuma service's name; else serviceName with a
//             trailing `.<namespace>` cut off, when the namespace is known from another source;
//             else serviceName as it is
//   namespace `istio.namespace`; else the Kuma service's namespace; else the namespace in `node_id`
//   version   `istio.canonical_revision`, unless it is Istio's `latest` placeholder
// A dotted serviceName is never split on a guess: `api.example.com` stays one name unless a tag or
// the node id says its last label is the namespace.

export interface ServiceIdentity {
  name: string;
  /** '' when nothing says. */
  namespace: string;
  /** '' when nothing says. */
  version: string;
}

/** The tags the identity is read from, as a span carries them ('' when absent). */
export interface IdentityTags {
  canonicalService: string;
  namespace: string;
  canonicalRevision: string;
  nodeId: string;
}

export const IDENTITY_TAG_KEYS = {
  canonicalService: 'istio.canonical_service',
  namespace: 'istio.namespace',
  canonicalRevision: 'istio.canonical_revision',
  nodeId: 'node_id',
} as const;

// Kubernetes names are DNS labels: lowercase alphanumerics and '-', no '_', so the split is unambiguous.
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]*[a-z0-9])?';
const KUMA_SERVICE = new RegExp(`^(${DNS_LABEL})_(${DNS_LABEL})_svc_([0-9]{1,5})$`);
const NODE_DOMAIN = new RegExp(`^(${DNS_LABEL})\\.svc(?:\\.|$)`);
const WHOLE_DNS_LABEL = new RegExp(`^${DNS_LABEL}$`);

export function serviceIdentity(serviceName: string, tags: IdentityTags): ServiceIdentity {
  const kuma = KUMA_SERVICE.exec(serviceName);
  const namespace = tags.namespace || (kuma ? kuma[2]! : '') || nodeIdNamespace(tags.nodeId);
  let name = tags.canonicalService || (kuma ? kuma[1]! : '');
  if (name === '') {
    const suffix = `.${namespace}`;
    name = namespace !== '' && serviceName.length > suffix.length && serviceName.endsWith(suffix) ? serviceName.slice(0, -suffix.length) : serviceName;
  }
  const version = tags.canonicalRevision === 'latest' ? '' : tags.canonicalRevision;
  return { name, namespace, version };
}

/**
 * The namespace in an Envoy node id `<type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>`
 * (Istio's sidecar and router nodes): the DNS domain's first label, else what follows the pod
 * name's last dot. '' for any other shape.
 */
export function nodeIdNamespace(nodeId: string): string {
  if (nodeId === '') return '';
  const parts = nodeId.split('~');
  if (parts.length !== 4) return '';
  const domain = NODE_DOMAIN.exec(parts[3]!);
  if (domain) return domain[1]!;
  const podAndNamespace = parts[2]!;
  const dot = podAndNamespace.lastIndexOf('.');
  const namespace = dot === -1 ? '' : podAndNamespace.slice(dot + 1);
  return WHOLE_DNS_LABEL.test(namespace) ? namespace : '';
}
