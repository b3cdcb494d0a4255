// The critical path: the chain of work that decided the trace's duration, by the standard backwards walk.
//
// The rule. Start at the root span with the cursor at the root's end. At the current span, among its children
// pick the LAST-FINISHING child that ends at or before the cursor; the time between that child's end and the
// cursor is the current span's own time on the path; walk into the child (its cursor is its own end); when
// that child is done, move the cursor to the child's start and pick again among the remaining children. When
// no child ends before the cursor any more, the time from the span's start to the cursor is the span's own.
// A child is first clipped to its parent's bounds (a child ending after its parent — async work or clock
// skew — counts up to the parent's end; one lying wholly outside its parent is not on the path).
// Only the main root's tree is walked; orphans are not on the path.
import type { SpanNode, TraceTree } from './tree.ts';

export interface CriticalSegment {
  spanId: string;
  /** Unix µs. */
  startUs: number;
  endUs: number;
}

interface Frame {
  node: SpanNode;
  /** Clipped bounds of the span. */
  startUs: number;
  endUs: number;
  cursor: number;
  /** Children (clipped), latest end first; `next` is the first not yet considered. */
  children: Array<{ node: SpanNode; startUs: number; endUs: number }>;
  next: number;
}

function frameOf(node: SpanNode, startUs: number, endUs: number): Frame {
  const children = node.children
    .map((child) => ({ node: child, startUs: Math.max(child.span.startUs, startUs), endUs: Math.min(child.span.endUs, endUs) }))
    .filter((child) => child.startUs <= child.endUs)
    .sort((a, b) => b.endUs - a.endUs || b.startUs - a.startUs);
  return { node, startUs, endUs, cursor: endUs, children, next: 0 };
}

/** Segments of the critical path in time order; adjacent segments of one span are merged. */
export function criticalPath(tree: TraceTree): CriticalSegment[] {
  const root = tree.root;
  if (root === null) return [];
  const reversed: CriticalSegment[] = [];
  const emit = (spanId: string, startUs: number, endUs: number) => {
    if (endUs <= startUs) return;
    const last = reversed[reversed.length - 1];
    if (last !== undefined && last.spanId === spanId && last.startUs === endUs) last.startUs = startUs;
    else reversed.push({ spanId, startUs, endUs });
  };
  // Explicit stack: a trace may nest thousands of spans deep.
  const stack: Frame[] = [frameOf(root, root.span.startUs, root.span.endUs)];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    let child: Frame['children'][number] | undefined;
    while (frame.next < frame.children.length) {
      const candidate = frame.children[frame.next++]!;
      if (candidate.endUs <= frame.cursor) {
        child = candidate;
        break;
      }
    }
    if (child === undefined) {
      emit(frame.node.span.spanId, frame.startUs, frame.cursor);
      stack.pop();
      continue;
    }
    emit(frame.node.span.spanId, child.endUs, frame.cursor);
    frame.cursor = child.startUs;
    stack.push(frameOf(child.node, child.startUs, child.endUs));
  }
  return reversed.reverse();
}

/** Span id → µs that span contributes to the critical path. */
export function criticalTimeBySpan(segments: readonly CriticalSegment[]): Map<string, number> {
  const time = new Map<string, number>();
  for (const segment of segments) time.set(segment.spanId, (time.get(segment.spanId) ?? 0) + segment.endUs - segment.startUs);
  return time;
}
