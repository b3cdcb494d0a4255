// One trace (view=trace&trace=<id>[&span=<id>]): a header with its numbers, the trace's own service graph,
// the collapsible waterfall with the critical path marked, and the selected span's details. The waterfall is
// virtualised — only the rows in the viewport are in the DOM — so a 10,000-span trace opens at once.
import { ApiError } from '../api.ts';
import type { MountedView } from '../main.ts';
import { type CriticalSegment, criticalPath, criticalTimeBySpan } from '../traces/critical-path.ts';
import { el, svgEl } from '../traces/dom.ts';
import { type JaegerTag, type JaegerTrace, fetchTrace, traceFromLastSearch } from '../traces/jaeger-api.ts';
import { type TraceGraph, traceGraph } from '../traces/trace-graph.ts';
import { type SpanNode, type TraceTree, buildTree } from '../traces/tree.ts';
import { type WaterfallRow, formatDuration, serviceColours, timeScale, visibleRange, waterfallRows } from '../traces/waterfall.ts';
import { type ViewState, formatState, navigate } from '../url-state.ts';
import '../traces/traces.css';

const ROW_HEIGHT = 26;
/** Indentation stops growing past this depth (a 10,000-deep chain would push names off screen). */
const MAX_INDENT_DEPTH = 24;

export function mountTraceView(container: HTMLElement, initial: ViewState): MountedView {
  let state = initial;

  const header = el('div', { class: 'tv-header' });
  const graphBox = el('details', { class: 'tv-graph', open: '' }, el('summary', {}, 'Services in this trace'));
  const ruler = el('div', { class: 'wf-ruler', 'aria-hidden': 'true' });
  const rowsCanvas = el('div', { class: 'wf-canvas' });
  const scroller = el('div', { class: 'wf-scroll', role: 'tree', 'aria-label': 'Spans of the trace', 'aria-multiselectable': 'false' }, rowsCanvas);
  const waterfall = el('section', { class: 'waterfall', 'aria-label': 'Waterfall' }, ruler, scroller);
  const details = el('aside', { class: 'details tv-details', 'aria-label': 'Span details' });
  details.hidden = true;
  const body = el('div', { class: 'tv-body' }, waterfall, details);
  const message = el('div', { class: 'tv-message' });
  const root = el('div', { class: 'trace-view', 'data-state': 'loading' }, header, message, graphBox, body);
  container.append(root);

  let tree: TraceTree | null = null;
  let rows: WaterfallRow[] = [];
  let segmentsBySpan = new Map<string, CriticalSegment[]>();
  let criticalTime = new Map<string, number>();
  let colours = new Map<string, string>();
  const collapsed = new Set<string>();
  /** Row index that holds the keyboard focus (roving tabindex). */
  let focusIndex = 0;
  let loadController: AbortController | null = null;
  let loadedId = '';

  async function load(traceId: string): Promise<void> {
    loadController?.abort();
    const controller = new AbortController();
    loadController = controller;
    const started = performance.now();
    loadedId = traceId;
    tree = null;
    root.dataset.state = 'loading';
    delete root.dataset.openMs;
    header.replaceChildren(backLink(), el('h1', {}, 'Trace ', el('code', {}, traceId)));
    message.replaceChildren(el('div', { class: 'message', role: 'status' }, 'Loading the trace…'));
    graphBox.hidden = true;
    body.hidden = true;
    if (!/^[0-9a-fA-F]{1,32}$/.test(traceId)) return showError(new ApiError(`"${traceId}" is not a trace id`, 'A trace id is up to 32 hexadecimal digits; search for the trace instead.', 400));
    const cached = traceFromLastSearch(traceId);
    if (cached !== undefined) show(cached, started, started);
    try {
      const trace = await fetchTrace(traceId, controller.signal);
      if (controller.signal.aborted) return;
      // Shown from the search already: redraw only if spans arrived since (keeping selection and collapse).
      if (cached === undefined || trace.spans.length !== cached.spans.length) show(trace, started, performance.now(), cached !== undefined);
    } catch (error) {
      // Shown from the search already: a failed refresh leaves it on screen.
      if (controller.signal.aborted || (error as Error).name === 'AbortError' || cached !== undefined) return;
      if (error instanceof ApiError && error.status === 404) return showError(new ApiError(`no trace ${traceId} in storage`, 'It may not have arrived yet, or it is older than the retention: check the id, or search for it.', 404));
      showError(error instanceof ApiError ? error : new ApiError(String((error as Error).message), 'Reload the page; if it persists, report it with the browser console output.', null));
    }
  }

  /** Draws a trace; `fetched` is when its data was in hand (for the timing readout). */
  function show(trace: JaegerTrace, started: number, fetched: number, keepView = false): void {
    tree = buildTree(trace);
    colours = serviceColours(tree.services);
    const segments = criticalPath(tree);
    criticalTime = criticalTimeBySpan(segments);
    segmentsBySpan = new Map();
    for (const segment of segments) segmentsBySpan.set(segment.spanId, [...(segmentsBySpan.get(segment.spanId) ?? []), segment]);
    if (!keepView) collapsed.clear();
    root.dataset.state = 'ready';
    message.replaceChildren();
    graphBox.hidden = false;
    body.hidden = false;
    renderHeader(tree);
    renderGraph(traceGraph(tree));
    renderRuler(tree);
    relayoutRows();
    const selectedIndex = rows.findIndex((row) => row.node.span.spanId === state.spanId);
    // A redraw with late spans keeps the scroll position; a new trace starts at its top or its selected span.
    if (!keepView && selectedIndex >= 0) {
      focusIndex = selectedIndex;
      scrollToRow(selectedIndex);
    } else if (!keepView) scroller.scrollTop = 0;
    renderRows();
    renderDetails();
    if (keepView) return;
    const built = performance.now();
    // Where the time went, for the performance test and anyone profiling: fetch+parse, then the rest.
    root.dataset.timings = `${fetched === started ? 'data from the search' : `fetch ${(fetched - started).toFixed(0)} ms`}, build and render ${(built - fetched).toFixed(0)} ms`;
    // Opened = the rows are on screen: measured after the next frame is painted.
    requestAnimationFrame(() => setTimeout(() => (root.dataset.openMs = (performance.now() - started).toFixed(0)), 0));
  }

  function showError(error: ApiError): void {
    root.dataset.state = 'error';
    graphBox.hidden = true;
    body.hidden = true;
    const retry = el('button', { type: 'button' }, 'Retry');
    retry.addEventListener('click', () => void load(state.traceId));
    const search = el('a', { href: formatState({ ...state, view: 'traces', traceId: '', spanId: '' }) || '?' }, 'Search traces');
    search.addEventListener('click', (event) => {
      event.preventDefault();
      navigate({ view: 'traces', traceId: '', spanId: '' });
    });
    message.replaceChildren(el('div', { class: 'message error', role: 'alert' }, el('p', {}, el('strong', {}, error.message)), el('p', {}, error.hint), el('p', { class: 'actions' }, retry, ' ', search)));
  }

  function backLink(): HTMLAnchorElement {
    const link = el('a', { href: formatState({ ...state, view: 'traces', traceId: '', spanId: '' }) || '?', class: 'tv-back' }, '← Search');
    link.addEventListener('click', (event) => {
      event.preventDefault();
      navigate({ view: 'traces', traceId: '', spanId: '' });
    });
    return link;
  }

  function renderHeader(trace: TraceTree): void {
    const rootSpan = trace.root?.span;
    const expandAll = el('button', { type: 'button' }, 'Expand all');
    expandAll.addEventListener('click', () => {
      collapsed.clear();
      relayoutRows();
      renderRows();
    });
    const collapseAll = el('button', { type: 'button', title: 'Collapse every span with children' }, 'Collapse all');
    collapseAll.addEventListener('click', () => {
      for (const node of trace.order) if (node.children.length > 0) collapsed.add(node.span.spanId);
      focusIndex = 0;
      relayoutRows();
      renderRows();
    });
    const stat = (label: string, value: string, extra: Record<string, string> = {}) => el('div', { class: 'stat', ...extra }, el('span', {}, label), el('strong', {}, value));
    header.replaceChildren(
      backLink(),
      el('h1', {}, rootSpan ? `${rootSpan.service}: ` : '', el('span', {}, rootSpan?.operation ?? 'trace'), ' ', el('code', { class: 'tv-id' }, trace.traceId)),
      el(
        'div',
        { class: 'tv-stats' },
        stat('started', new Date(trace.startUs / 1000).toLocaleString()),
        stat('duration', formatDuration(trace.durationUs)),
        stat('spans', String(trace.order.length), { 'data-span-total': String(trace.order.length) }),
        stat('services', String(trace.services.length)),
        stat('depth', String(trace.maxDepth + 1)),
        stat('errors', String(trace.errorCount), trace.errorCount > 0 ? { class: 'stat bad' } : {}),
        ...(trace.orphanCount > 0 ? [stat('orphans', String(trace.orphanCount), { title: 'spans whose parent is not in the trace (yet): shown as roots' })] : []),
        el('div', { class: 'tv-actions' }, expandAll, collapseAll),
      ),
      el('div', { class: 'tv-legend', 'aria-hidden': 'true' }, el('span', { class: 'crit-swatch' }), 'critical path', el('span', { class: 'err-swatch' }), 'error'),
    );
  }

  function renderGraph(graph: TraceGraph): void {
    const columnWidth = 190;
    const rowHeight = 62;
    const rowsUsed = Math.max(1, ...graph.nodes.map((n) => n.row + 1));
    const width = Math.max(graph.columns, 1) * columnWidth;
    const column = new Map(graph.nodes.map((n) => [n.service, n.column]));
    // Calls back to an earlier (or the same) column arc above the nodes: leave room for them.
    const top = graph.edges.some((e) => column.get(e.target)! <= column.get(e.source)!) ? 44 : 0;
    const height = rowsUsed * rowHeight + 8 + top;
    const at = new Map(graph.nodes.map((n) => [n.service, { x: n.column * columnWidth + 40, y: n.row * rowHeight + 24 + top }]));
    const svg = svgEl('svg', { class: 'tv-graph-svg', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${graph.nodes.length} services, ${graph.edges.length} calls between them` });
    svg.append(svgEl('defs', {}, svgEl('marker', { id: 'tv-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svgEl('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }))));
    const radius = 15;
    const count = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n));
    for (const edge of graph.edges) {
      const from = at.get(edge.source)!;
      const to = at.get(edge.target)!;
      const dx = to.x - from.x;
      const dy = to.y - from.y;
      const length = Math.hypot(dx, dy) || 1;
      const [x1, y1, x2, y2] = [from.x + (dx / length) * radius, from.y + (dy / length) * radius, to.x - (dx / length) * (radius + 2), to.y - (dy / length) * (radius + 2)];
      // Back edges (callee to an earlier column) and self-columns bend, so they do not hide forward edges.
      const bend = dx <= 0 ? 40 : 0;
      const path = bend === 0 ? `M${x1},${y1} L${x2},${y2}` : `M${x1},${y1} Q${(x1 + x2) / 2 + bend},${(y1 + y2) / 2 - bend} ${x2},${y2}`;
      const label = `${edge.calls}×${edge.errors > 0 ? ` · ${edge.errors} err` : ''}`;
      svg.append(
        svgEl('path', { d: path, class: edge.errors > 0 ? 'edge error' : 'edge', 'marker-end': 'url(#tv-arrow)', 'data-edge': `${edge.source}->${edge.target}`, 'data-calls': edge.calls }, svgEl('title', {}, `${edge.source} → ${edge.target}: ${edge.calls} call(s), ${edge.errors} failed`)),
        // On a straight edge just above its middle; on an arc just above the arc's highest point.
        svgEl('text', { x: (x1 + x2) / 2 + bend / 2, y: (y1 + y2) / 2 - (bend === 0 ? 5 : bend / 2 + 4), class: 'edge-label', 'text-anchor': 'middle' }, label),
      );
    }
    for (const node of graph.nodes) {
      const point = at.get(node.service)!;
      svg.append(
        svgEl(
          'g',
          { class: 'node', transform: `translate(${point.x},${point.y})`, 'data-service': node.service },
          svgEl('circle', { r: radius, fill: colours.get(node.service)!, class: node.errors > 0 ? 'error' : '' }),
          svgEl('text', { y: radius + 13, 'text-anchor': 'middle' }, node.service),
          svgEl('text', { y: 4, 'text-anchor': 'middle', class: 'count' }, count(node.spans)),
          svgEl('title', {}, `${node.service}: ${node.spans} span(s)${node.errors ? `, ${node.errors} failed` : ''}`),
        ),
      );
    }
    graphBox.replaceChildren(el('summary', {}, `Services in this trace (${graph.nodes.length})`), el('div', { class: 'tv-graph-scroll' }, svg));
  }

  function renderRuler(trace: TraceTree): void {
    const ticks = timeScale(trace).copy().domain([0, Math.max(trace.durationUs, 1)]).ticks(6);
    ruler.replaceChildren(
      el('div', { class: 'wf-name-head' }, 'Service · operation'),
      el('div', { class: 'wf-lane-head' }, ...ticks.map((us) => el('span', { class: 'tick', style: `left:${((us / Math.max(trace.durationUs, 1)) * 100).toFixed(3)}%` }, formatDuration(us)))),
    );
  }

  function relayoutRows(): void {
    if (tree === null) return;
    rows = waterfallRows(tree, collapsed);
    focusIndex = Math.min(focusIndex, Math.max(rows.length - 1, 0));
    rowsCanvas.style.height = `${rows.length * ROW_HEIGHT}px`;
  }

  function scrollToRow(index: number): void {
    const top = index * ROW_HEIGHT;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW_HEIGHT - scroller.clientHeight;
  }

  /** Renders only the rows in (and just around) the viewport. */
  function renderRows(): void {
    if (tree === null) return;
    const hadFocus = scroller.contains(document.activeElement);
    const { first, last } = visibleRange(rows.length, ROW_HEIGHT, scroller.scrollTop, scroller.clientHeight || 600);
    const elements: HTMLElement[] = [];
    for (let index = first; index < last; index++) elements.push(rowElement(rows[index]!));
    rowsCanvas.replaceChildren(...elements);
    rowsCanvas.dataset.rendered = `${first}-${last}`;
    scroller.setAttribute('aria-rowcount', String(rows.length));
    if (hadFocus) (rowsCanvas.querySelector(`[data-index="${focusIndex}"]`) as HTMLElement | null)?.focus({ preventScroll: true });
  }

  function rowElement(row: WaterfallRow): HTMLElement {
    const span = row.node.span;
    const critical = segmentsBySpan.get(span.spanId);
    const selected = span.spanId === state.spanId;
    const indent = Math.min(row.depth, MAX_INDENT_DEPTH) * 14;
    const toggle = row.hasChildren ? el('button', { type: 'button', class: 'wf-toggle', tabindex: '-1', 'aria-label': row.collapsed ? 'Expand' : 'Collapse' }, row.collapsed ? '▸' : '▾') : el('span', { class: 'wf-toggle leaf', 'aria-hidden': 'true' });
    const name = el(
      'div',
      { class: 'wf-name', style: `padding-left:${indent + 4}px` },
      toggle,
      el('span', { class: 'swatch', style: `background:${colours.get(span.service)}` }),
      el('span', { class: 'svc' }, span.service),
      el('span', { class: 'op' }, span.operation),
      ...(row.depth > MAX_INDENT_DEPTH ? [el('span', { class: 'depth-badge', title: 'depth' }, `↳${row.depth}`)] : []),
      ...(row.collapsed ? [el('span', { class: 'hidden-count' }, `+${row.hiddenCount}`)] : []),
      ...(row.node.orphan ? [el('span', { class: 'orphan', title: 'its parent span is not in this trace' }, 'orphan')] : []),
    );
    const x = tree === null ? null : timeScale(tree);
    const bar = el('div', { class: span.error ? 'wf-bar error' : 'wf-bar', style: `left:${row.left}%;width:${row.width}%;background:${colours.get(span.service)}` });
    const lane = el('div', { class: 'wf-lane' }, bar);
    if (critical && x) for (const segment of critical) {
      const left = x(segment.startUs);
      lane.append(el('div', { class: 'wf-crit', style: `left:${left}%;width:${Math.max(x(segment.endUs) - left, 0.15)}%` }));
    }
    const labelOnLeft = row.left + row.width > 82;
    lane.append(el('span', { class: 'wf-dur', style: labelOnLeft ? `right:${(100 - row.left).toFixed(3)}%;padding-right:4px` : `left:${(row.left + row.width).toFixed(3)}%;padding-left:4px` }, formatDuration(span.durationUs)));
    const element = el(
      'div',
      {
        class: `wf-row${selected ? ' selected' : ''}${critical ? ' critical' : ''}`,
        role: 'treeitem',
        'aria-level': String(row.depth + 1),
        'aria-selected': String(selected),
        'aria-label': `${span.service} ${span.operation}, ${formatDuration(span.durationUs)}${span.error ? ', error' : ''}${critical ? ', on the critical path' : ''}`,
        tabindex: row.index === focusIndex ? '0' : '-1',
        style: `top:${row.index * ROW_HEIGHT}px;height:${ROW_HEIGHT}px`,
        'data-index': String(row.index),
        'data-span-id': span.spanId,
        'data-critical': String(critical !== undefined),
      },
      name,
      lane,
    );
    if (row.hasChildren) element.setAttribute('aria-expanded', String(!row.collapsed));
    return element;
  }

  function toggleRow(index: number): void {
    const row = rows[index];
    if (row === undefined || !row.hasChildren) return;
    if (row.collapsed) collapsed.delete(row.node.span.spanId);
    else collapsed.add(row.node.span.spanId);
    focusIndex = index;
    relayoutRows();
    renderRows();
  }

  function focusRow(index: number): void {
    if (rows.length === 0) return;
    focusIndex = Math.max(0, Math.min(rows.length - 1, index));
    scrollToRow(focusIndex);
    renderRows();
    (rowsCanvas.querySelector(`[data-index="${focusIndex}"]`) as HTMLElement | null)?.focus({ preventScroll: true });
  }

  const selectSpan = (spanId: string, mode: 'push' | 'replace' = 'push') => navigate({ spanId }, mode);

  rowsCanvas.addEventListener('click', (event) => {
    const target = event.target as HTMLElement;
    const rowEl = target.closest<HTMLElement>('.wf-row');
    if (rowEl === null) return;
    const index = Number(rowEl.dataset.index);
    focusIndex = index;
    if (target.closest('.wf-toggle')) return toggleRow(index);
    selectSpan(rowEl.dataset.spanId!);
  });
  // Focus that arrives by Tab or a click is where the arrow keys start from.
  rowsCanvas.addEventListener('focusin', (event) => {
    const rowEl = (event.target as HTMLElement).closest<HTMLElement>('.wf-row');
    if (rowEl !== null) focusIndex = Number(rowEl.dataset.index);
  });
  scroller.addEventListener('keydown', (event) => {
    const row = rows[focusIndex];
    if (row === undefined) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_HEIGHT) - 1);
    switch (event.key) {
      case 'ArrowDown':
        focusRow(focusIndex + 1);
        break;
      case 'ArrowUp':
        focusRow(focusIndex - 1);
        break;
      case 'PageDown':
        focusRow(focusIndex + page);
        break;
      case 'PageUp':
        focusRow(focusIndex - page);
        break;
      case 'Home':
        focusRow(0);
        break;
      case 'End':
        focusRow(rows.length - 1);
        break;
      case 'ArrowRight':
        if (row.collapsed) toggleRow(focusIndex);
        else if (row.hasChildren) focusRow(focusIndex + 1);
        break;
      case 'ArrowLeft':
        if (row.hasChildren && !row.collapsed) toggleRow(focusIndex);
        else if (row.node.parent !== null) focusRow(rows.findIndex((candidate) => candidate.node === row.node.parent));
        break;
      case 'Enter':
      case ' ':
        // Enter expands or collapses a span with children and shows its details.
        if (row.hasChildren) toggleRow(focusIndex);
        selectSpan(row.node.span.spanId, 'replace');
        break;
      case 'Escape':
        selectSpan('', 'replace');
        break;
      default:
        return;
    }
    event.preventDefault();
  });
  let scrollFrame = 0;
  scroller.addEventListener('scroll', () => {
    if (scrollFrame !== 0) return;
    scrollFrame = requestAnimationFrame(() => {
      scrollFrame = 0;
      renderRows();
    });
  });
  const resizeObserver = new ResizeObserver(() => renderRows());
  resizeObserver.observe(scroller);

  // ---- span details --------------------------------------------------------------------------------------
  function renderDetails(): void {
    const node = tree?.byId.get(state.spanId);
    if (tree === null || node === undefined) {
      details.hidden = true;
      return;
    }
    const span = node.span;
    details.hidden = false;
    const close = el('button', { type: 'button', 'aria-label': 'Close span details' }, 'Close');
    close.addEventListener('click', () => selectSpan(''));
    const onPath = criticalTime.get(span.spanId) ?? 0;
    const spanButton = (spanId: string, label: string) => {
      const target = tree!.byId.get(spanId);
      if (target === undefined) return el('span', {}, `${label} (not in this trace)`);
      const button = el('button', { type: 'button', class: 'link' }, `${target.span.service}: ${target.span.operation}`);
      button.addEventListener('click', () => revealSpan(target));
      return button;
    };
    const references = span.references.map((ref) => {
      if (ref.traceID === span.traceId) return el('li', {}, `${ref.refType === 'CHILD_OF' ? 'parent' : 'link'}: `, spanButton(ref.spanID, ref.spanID));
      const link = el('a', { href: formatState({ ...state, traceId: ref.traceID, spanId: ref.spanID }) }, `trace ${ref.traceID} · span ${ref.spanID}`);
      link.addEventListener('click', (event) => {
        event.preventDefault();
        navigate({ view: 'trace', traceId: ref.traceID, spanId: ref.spanID });
      });
      return el('li', {}, `${ref.refType === 'CHILD_OF' ? 'parent' : 'link'} in another trace: `, link);
    });
    details.replaceChildren(
      el('h2', { 'data-selected-span': span.spanId }, el('span', { class: 'swatch', style: `background:${colours.get(span.service)}` }), `${span.service}: ${span.operation}`),
      el('dl', {}, ...[
        ['span id', span.spanId],
        ['duration', formatDuration(span.durationUs)],
        ['starts at', `+${formatDuration(span.startUs - tree.startUs)}`],
        ['kind', span.kind || '—'],
        ['status', span.error ? 'error' : 'ok / unset'],
        ['critical path', onPath > 0 ? `${formatDuration(onPath)} (${((onPath / Math.max(tree.durationUs, 1)) * 100).toFixed(1)} % of the trace)` : 'not on it'],
        ['children', String(node.children.length)],
      ].flatMap(([term, value]) => [el('dt', {}, term!), el('dd', {}, value!)])),
      el('div', { class: 'actions' }, close),
      section('Attributes', span.tags.length, tagTable(span.tags)),
      section('Events', span.logs.length, el('ol', { class: 'tv-events' }, ...span.logs.map((log) => el('li', {}, el('strong', {}, `+${formatDuration(log.timestamp - tree!.startUs)}`), ' ', tagTable(log.fields))))),
      section('Links', references.length, el('ul', { class: 'tv-links' }, ...references)),
      section(`Resource (${span.process.serviceName})`, span.process.tags.length, tagTable(span.process.tags)),
    );
  }

  /** Expands the ancestors of a span, scrolls to it and selects it. */
  function revealSpan(node: SpanNode): void {
    for (let parent = node.parent; parent !== null; parent = parent.parent) collapsed.delete(parent.span.spanId);
    relayoutRows();
    const index = rows.findIndex((row) => row.node === node);
    if (index >= 0) {
      focusIndex = index;
      scrollToRow(index);
    }
    renderRows();
    selectSpan(node.span.spanId);
  }

  function applyState(next: ViewState): void {
    const previous = state;
    state = next;
    if (next.traceId !== loadedId) {
      void load(next.traceId);
      return;
    }
    if (next.spanId !== previous.spanId && tree !== null) {
      const node = tree.byId.get(next.spanId);
      const index = node ? rows.findIndex((row) => row.node === node) : -1;
      if (node && index < 0) return revealSpan(node);
      renderRows();
      renderDetails();
    }
  }

  if (initial.traceId) void load(initial.traceId);
  else {
    root.dataset.state = 'empty';
    header.replaceChildren(backLink(), el('h1', {}, 'Trace'));
    graphBox.hidden = true;
    body.hidden = true;
    message.replaceChildren(el('div', { class: 'message empty', role: 'status' }, el('p', {}, el('strong', {}, 'No trace chosen.')), el('p', {}, 'Search for traces and open one, or open a link with ', el('code', {}, '?view=trace&trace=<trace id>'), '.')));
  }

  return {
    update: applyState,
    themeChanged: () => undefined,
    destroy: () => {
      loadController?.abort();
      resizeObserver.disconnect();
      cancelAnimationFrame(scrollFrame);
    },
  };
}

function section(title: string, count: number, content: HTMLElement): HTMLElement {
  const box = el('details', { class: 'tv-section' }, el('summary', {}, `${title} (${count})`));
  if (count > 0) {
    box.open = true;
    box.append(content);
  } else box.append(el('p', { class: 'muted' }, 'none'));
  return box;
}

function tagTable(tags: readonly JaegerTag[]): HTMLElement {
  return el('table', { class: 'tags' }, el('tbody', {}, ...tags.map((tag) => el('tr', {}, el('th', { scope: 'row' }, tag.key), el('td', {}, String(tag.value))))));
}
