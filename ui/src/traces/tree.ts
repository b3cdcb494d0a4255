// One Jaeger trace → a tree of spans. A span's parent is its CHILD_OF reference (else its first reference
// into the same trace). A span whose parent is not in the trace is an orphan: it becomes a root of its own,
// flagged, so nothing is hidden. Clock skew is left as is: a child may start before its parent, and the
// tree shows that rather than shifting times it cannot know better.
import type { JaegerProcess, JaegerReference, JaegerTag, JaegerTrace } from './jaeger-api.ts';

export interface TraceSpan {
  spanId: string;
  traceId: string;
  /** Parent span id as referenced ('' for a root); it may be missing from the trace (an orphan). */
  parentId: string;
  service: string;
  operation: string;
  /** Unix µs. */
  startUs: number;
  durationUs: number;
  endUs: number;
  kind: string;
  error: boolean;
  tags: JaegerTag[];
  logs: Array<{ timestamp: number; fields: JaegerTag[] }>;
  references: JaegerReference[];
  process: JaegerProcess;
}

export interface SpanNode {
  span: TraceSpan;
  parent: SpanNode | null;
  /** By start time, then span id. */
  children: SpanNode[];
  depth: number;
  /** The parent id named a span not in this trace. */
  orphan: boolean;
}

export interface TraceTree {
  traceId: string;
  /** Roots in start order: the true root(s) first, then orphans. */
  roots: SpanNode[];
  /** The trace's root for summaries and the critical path: the earliest true root, else the earliest orphan. */
  root: SpanNode | null;
  byId: Map<string, SpanNode>;
  /** Pre-order (each span before its children; siblings by start). */
  order: SpanNode[];
  startUs: number;
  endUs: number;
  durationUs: number;
  /** Distinct service names, by first appearance in `order`. */
  services: string[];
  orphanCount: number;
  errorCount: number;
  maxDepth: number;
}

const UNKNOWN_PROCESS: JaegerProcess = { serviceName: 'unknown', tags: [] };

function isErrorSpan(tags: readonly JaegerTag[]): boolean {
  return tags.some((tag) => (tag.key === 'error' && (tag.value === true || tag.value === 'true')) || (tag.key === 'otel.status_code' && tag.value === 'ERROR'));
}

export function toTraceSpans(trace: JaegerTrace): TraceSpan[] {
  return trace.spans.map((span) => {
    const process = trace.processes[span.processID] ?? UNKNOWN_PROCESS;
    const parentRef = span.references.find((ref) => ref.refType === 'CHILD_OF') ?? span.references.find((ref) => ref.traceID === span.traceID);
    return {
      spanId: span.spanID,
      traceId: span.traceID,
      parentId: parentRef?.spanID ?? '',
      service: process.serviceName,
      operation: span.operationName,
      startUs: span.startTime,
      durationUs: span.duration,
      endUs: span.startTime + span.duration,
      kind: String(span.tags.find((tag) => tag.key === 'span.kind')?.value ?? ''),
      error: isErrorSpan(span.tags),
      tags: span.tags,
      logs: span.logs,
      references: span.references,
      process,
    };
  });
}

const byStart = (a: SpanNode, b: SpanNode) => a.span.startUs - b.span.startUs || (a.span.spanId < b.span.spanId ? -1 : a.span.spanId > b.span.spanId ? 1 : 0);

export function buildTree(trace: JaegerTrace): TraceTree {
  const spans = toTraceSpans(trace);
  const byId = new Map<string, SpanNode>();
  for (const span of spans) if (!byId.has(span.spanId)) byId.set(span.spanId, { span, parent: null, children: [], depth: 0, orphan: false });
  const trueRoots: SpanNode[] = [];
  const orphans: SpanNode[] = [];
  for (const node of byId.values()) {
    const parent = node.span.parentId === '' ? undefined : byId.get(node.span.parentId);
    if (node.span.parentId === '') trueRoots.push(node);
    else if (parent === undefined || parent === node) {
      node.orphan = true;
      orphans.push(node);
    } else {
      node.parent = parent;
      parent.children.push(node);
    }
  }
  for (const node of byId.values()) node.children.sort(byStart);
  trueRoots.sort(byStart);
  orphans.sort(byStart);
  const roots = [...trueRoots, ...orphans];

  // Pre-order walk without recursion (a 10,000-span chain would overflow the stack).
  const order: SpanNode[] = [];
  const visit = (starts: SpanNode[]) => {
    const stack = [...starts].reverse();
    while (stack.length > 0) {
      const node = stack.pop()!;
      node.depth = node.parent === null || node.orphan ? 0 : node.parent.depth + 1;
      order.push(node);
      for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
    }
  };
  visit(roots);
  // Parent cycles (a→b→a) are reachable from no root: break each cycle at its earliest span, made an orphan.
  if (order.length < byId.size) {
    const seen = new Set(order);
    const stranded = [...byId.values()].filter((node) => !seen.has(node)).sort(byStart);
    for (const node of stranded) {
      if (seen.has(node)) continue;
      node.parent?.children.splice(node.parent.children.indexOf(node), 1);
      node.parent = null;
      node.orphan = true;
      roots.push(node);
      const before = order.length;
      visit([node]);
      for (let i = before; i < order.length; i++) seen.add(order[i]!);
    }
  }

  let startUs = Infinity;
  let endUs = -Infinity;
  let errorCount = 0;
  let maxDepth = 0;
  const services: string[] = [];
  const seenServices = new Set<string>();
  for (const node of order) {
    startUs = Math.min(startUs, node.span.startUs);
    endUs = Math.max(endUs, node.span.endUs);
    if (node.span.error) errorCount++;
    maxDepth = Math.max(maxDepth, node.depth);
    if (!seenServices.has(node.span.service)) {
      seenServices.add(node.span.service);
      services.push(node.span.service);
    }
  }
  if (order.length === 0) startUs = endUs = 0;
  return {
    traceId: trace.traceID,
    roots,
    root: trueRoots[0] ?? orphans[0] ?? roots[0] ?? null,
    byId,
    order,
    startUs,
    endUs,
    durationUs: endUs - startUs,
    services,
    orphanCount: roots.length - trueRoots.length,
    errorCount,
    maxDepth,
  };
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  spanCount: number;
  /** Spans per service, most spans first. */
  services: Array<{ name: string; spans: number }>;
  errorCount: number;
  /** Unix µs. */
  startUs: number;
  durationUs: number;
}

/** One line of the result list: what Jaeger's search results show. */
export function summarize(trace: JaegerTrace): TraceSummary {
  const tree = buildTree(trace);
  const counts = new Map<string, number>();
  for (const node of tree.order) counts.set(node.span.service, (counts.get(node.span.service) ?? 0) + 1);
  return {
    traceId: tree.traceId,
    rootService: tree.root?.span.service ?? '',
    rootOperation: tree.root?.span.operation ?? '',
    spanCount: tree.order.length,
    services: [...counts].map(([name, spans]) => ({ name, spans })).sort((a, b) => b.spans - a.spans || (a.name < b.name ? -1 : 1)),
    errorCount: tree.errorCount,
    startUs: tree.startUs,
    durationUs: tree.durationUs,
  };
}
