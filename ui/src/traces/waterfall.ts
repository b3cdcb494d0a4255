// Row geometry of the waterfall: which spans are rows (a collapsed span hides its subtree), their depth,
// and each bar's left edge and width on the trace's time axis, as percentages of the axis (so a resize
// needs no recomputation). The view renders only the rows in the viewport from this list.
import { scaleLinear } from 'd3-scale';
import type { SpanNode, TraceTree } from './tree.ts';

export interface WaterfallRow {
  node: SpanNode;
  /** Position in the visible row list. */
  index: number;
  depth: number;
  /** Bar's left edge and width, % of the time axis. */
  left: number;
  width: number;
  hasChildren: boolean;
  collapsed: boolean;
  /** Spans hidden under this row when collapsed (its whole subtree). */
  hiddenCount: number;
}

/** Percent of the axis below which a bar is drawn at this width anyway, so zero-length spans stay visible. */
export const MIN_BAR_PERCENT = 0.2;

/** The time axis: µs since the trace start → % of the width. */
export function timeScale(tree: TraceTree) {
  return scaleLinear().domain([tree.startUs, tree.startUs + Math.max(tree.durationUs, 1)]).range([0, 100]);
}

function subtreeSize(node: SpanNode): number {
  let count = 0;
  const stack = [...node.children];
  while (stack.length > 0) {
    const next = stack.pop()!;
    count++;
    for (const child of next.children) stack.push(child);
  }
  return count;
}

/** The visible rows in pre-order, skipping the descendants of every span id in `collapsed`. */
export function waterfallRows(tree: TraceTree, collapsed: ReadonlySet<string>): WaterfallRow[] {
  const x = timeScale(tree);
  const rows: WaterfallRow[] = [];
  const stack = [...tree.roots].reverse();
  while (stack.length > 0) {
    const node = stack.pop()!;
    const isCollapsed = collapsed.has(node.span.spanId) && node.children.length > 0;
    const left = x(node.span.startUs);
    const width = Math.max(x(node.span.endUs) - left, MIN_BAR_PERCENT);
    rows.push({
      node,
      index: rows.length,
      depth: node.depth,
      left,
      width,
      hasChildren: node.children.length > 0,
      collapsed: isCollapsed,
      hiddenCount: isCollapsed ? subtreeSize(node) : 0,
    });
    if (!isCollapsed) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return rows;
}

/** The rows [first, last) to render for a scroll position, with `overscan` extra rows on each side. */
export function visibleRange(rowCount: number, rowHeight: number, scrollTop: number, viewportHeight: number, overscan = 8): { first: number; last: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(rowCount, Math.ceil((scrollTop + viewportHeight) / rowHeight) + overscan);
  return { first, last: Math.max(first, last) };
}

/** Collapses every span deeper than `depth` that has children: the starting view of a very big trace. */
export function collapseBelow(tree: TraceTree, depth: number): Set<string> {
  const collapsed = new Set<string>();
  for (const node of tree.order) if (node.depth >= depth && node.children.length > 0) collapsed.add(node.span.spanId);
  return collapsed;
}

// Categorical colours for services, readable on both themes (bars carry white-ish text nowhere).
const SERVICE_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#e15759', '#8cd17d', '#499894', '#d37295'];

/** A colour per service, stable for the trace: services in order of first appearance. */
export function serviceColours(services: readonly string[]): Map<string, string> {
  return new Map(services.map((name, i) => [name, SERVICE_COLOURS[i % SERVICE_COLOURS.length]!]));
}

/** µs → "1.23s", "45.6ms", "789µs". */
export function formatDuration(us: number): string {
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(us >= 10_000_000 ? 1 : 2)}s`;
  if (us >= 1_000) return `${(us / 1_000).toFixed(us >= 100_000 ? 0 : us >= 10_000 ? 1 : 2)}ms`;
  return `${Math.round(us)}µs`;
}
