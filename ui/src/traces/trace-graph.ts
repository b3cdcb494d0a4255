// The trace's own service graph: services as nodes, and an edge caller → callee for every span whose parent
// span belongs to another service (one remote call), with the number of such calls and how many failed.
// Calls inside one service (parent and child of the same service) are counted on the node, not drawn.
import type { TraceTree } from './tree.ts';

export interface TraceGraphNode {
  service: string;
  spans: number;
  errors: number;
  /** Column for drawing: the fewest calls from the root's service (orphan-only services after the rest). */
  column: number;
  /** Row inside the column, by first appearance. */
  row: number;
}

export interface TraceGraphEdge {
  source: string;
  target: string;
  calls: number;
  errors: number;
}

export interface TraceGraph {
  nodes: TraceGraphNode[];
  edges: TraceGraphEdge[];
  columns: number;
}

export function traceGraph(tree: TraceTree): TraceGraph {
  const nodes = new Map<string, TraceGraphNode>();
  for (const service of tree.services) nodes.set(service, { service, spans: 0, errors: 0, column: -1, row: 0 });
  const edges = new Map<string, TraceGraphEdge>();
  for (const node of tree.order) {
    const entry = nodes.get(node.span.service)!;
    entry.spans++;
    if (node.span.error) entry.errors++;
    const parent = node.parent;
    if (parent === null || parent.span.service === node.span.service) continue;
    const key = `${parent.span.service}\u0000${node.span.service}`;
    let edge = edges.get(key);
    if (edge === undefined) edges.set(key, (edge = { source: parent.span.service, target: node.span.service, calls: 0, errors: 0 }));
    edge.calls++;
    if (node.span.error) edge.errors++;
  }

  // Columns: breadth-first from the root's service over the edges.
  const outgoing = new Map<string, string[]>();
  for (const edge of edges.values()) outgoing.set(edge.source, [...(outgoing.get(edge.source) ?? []), edge.target]);
  const starts = tree.roots.map((root) => root.span.service);
  const queue: string[] = [];
  for (const service of starts) {
    if (nodes.get(service)!.column === -1) {
      nodes.get(service)!.column = 0;
      queue.push(service);
    }
  }
  while (queue.length > 0) {
    const service = queue.shift()!;
    const column = nodes.get(service)!.column;
    for (const target of outgoing.get(service) ?? []) {
      const node = nodes.get(target)!;
      if (node.column === -1) {
        node.column = column + 1;
        queue.push(target);
      }
    }
  }
  let columns = 0;
  const rows = new Map<number, number>();
  for (const node of nodes.values()) {
    if (node.column === -1) node.column = 0;
    node.row = rows.get(node.column) ?? 0;
    rows.set(node.column, node.row + 1);
    columns = Math.max(columns, node.column + 1);
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()], columns };
}
