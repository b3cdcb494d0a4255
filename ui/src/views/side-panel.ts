// The side panel for a selected node or edge: totals, requests/errors and p50/p95/p99 over time (/api/v1/red),
// the latency histogram (/api/v1/latency) and heatmap (/api/v1/latency/heatmap), the busiest operations
// (/api/v1/operations), and from any chart slot, bin or heatmap cell a link to the traces behind it.
// Charts are SVG drawn with d3 (scales, axes, shapes); the geometry comes from the pure modules in charts/.
// Every chart is one tab stop: arrow keys move its cursor, and the readout under it holds the link.
import { axisBottom, axisLeft } from 'd3-axis';
import { type Selection, select } from 'd3-selection';
import { ApiError, type HeatmapAnswer, type LatencyAnswer, type LatencySubject, type OperationSummary, type RedAnswer, type Signal, fetchHeatmap, fetchLatency, fetchOperations, fetchRed } from '../api.ts';
import { heatmapChart } from '../charts/heatmap.ts';
import { binLabel, durationTicks, formatDuration, histogramChart } from '../charts/histogram.ts';
import { type ChartBox, countChart, latencyChart, redTotals, slotSeconds } from '../charts/series.ts';
import { formatMs, formatPercent } from '../graph/geometry.ts';
import { type TraceSearch, traceSearchHref } from '../trace-link.ts';

export interface PanelSubject {
  kind: 'node' | 'edge';
  id: string;
  query: LatencySubject;
  /** The service whose spans a trace search looks at; null when the subject has no spans of its own. */
  traceService: string | null;
  /** The service whose operations are listed (node id), and how the list is titled; null: none. */
  operationsOf: { service: string; title: string } | null;
}

export interface PanelRequest {
  subject: PanelSubject;
  window: { start: number; end: number };
  signal: Signal;
  /** The replayed frame, marked on the time charts. */
  frame: { start: number; end: number } | null;
}

interface PanelData {
  red: RedAnswer;
  latency: LatencyAnswer;
  heatmap: HeatmapAnswer;
  operations: OperationSummary[] | null;
}

const SVG = 'http://www.w3.org/2000/svg';

/** A d3 axis (of any scale) as a function of the group it draws into. */
type DrawAxis = (group: Selection<SVGGElement, unknown, null, undefined>) => void;
const WIDTH = 360;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

const timeOfDay = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const slotLabel = (start: number, end: number) => `${timeOfDay(start)}–${timeOfDay(end)}`;
const count = (n: number) => (Number.isInteger(n) ? n.toLocaleString() : n.toLocaleString(undefined, { maximumFractionDigits: 2 }));

/** '20ms', '1.5s': compact axis labels. */
const shortDuration = (ms: number) => (ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`);

/** A thing on a chart the cursor can rest on: where it is, what it says, where its traces are. */
interface Pickable {
  x: number;
  y: number;
  width: number;
  height: number;
  text: string;
  links: Array<{ label: string; search: TraceSearch }>;
  /** For tests and tools: the data behind it. */
  data?: Record<string, string>;
}

export class SidePanel {
  readonly element: HTMLElement;
  private request: PanelRequest | null = null;
  private data: PanelData | null = null;
  private key = '';
  private controller: AbortController | null = null;
  /** Cursor position per chart, kept across redraws of the same data. */
  private cursors = new Map<string, number>();

  constructor() {
    this.element = el('section', { class: 'side-panel', 'aria-label': 'Charts of the selection', 'data-state': 'loading' });
  }

  /** Shows `request`; fetches only when the subject, window or signal changed. */
  show(request: PanelRequest): void {
    const previous = this.request;
    this.request = request;
    const key = JSON.stringify([request.subject.kind, request.subject.id, request.window, request.signal]);
    if (key !== this.key) {
      if (previous?.subject.id !== request.subject.id) {
        // Another node or edge: its charts, not the last one's, under its name (loading until they come).
        this.cursors.clear();
        this.data = null;
      }
      this.key = key;
      void this.load();
    } else if (this.data !== null && JSON.stringify(previous?.frame ?? null) !== JSON.stringify(request.frame)) this.render();
  }

  /** Draws again (the theme changed: the heatmap's colours come from CSS properties). */
  redraw(): void {
    if (this.data !== null) this.render();
  }

  destroy(): void {
    this.controller?.abort();
  }

  private async load(): Promise<void> {
    const request = this.request;
    if (request === null) return;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    if (this.data === null) this.setMessage('loading', el('p', { role: 'status' }, 'Loading charts…'));
    const step = slotSeconds(request.window);
    const query = { subject: request.subject.query, ...request.window, signal: request.signal, step };
    try {
      const operationsOf = request.subject.operationsOf;
      const [red, latency, heatmap, operations] = await Promise.all([
        fetchRed(query, controller.signal),
        fetchLatency(query, controller.signal),
        fetchHeatmap(query, controller.signal),
        operationsOf ? fetchOperations({ service: operationsOf.service, ...request.window, signal: request.signal, limit: 8 }, controller.signal) : Promise.resolve(null),
      ]);
      if (controller.signal.aborted) return;
      this.data = { red, latency, heatmap, operations };
      this.render();
    } catch (error) {
      if (controller.signal.aborted || (error as Error).name === 'AbortError') return;
      this.data = null;
      const problem = error instanceof ApiError ? error : new ApiError((error as Error).message, 'Reload the page; if it persists, report it with the browser console output.', null);
      const retry = el('button', { type: 'button' }, 'Retry');
      retry.addEventListener('click', () => void this.load());
      this.setMessage('error', el('div', { class: 'panel-message error', role: 'alert' }, el('p', {}, el('strong', {}, `Charts: ${problem.message}`)), el('p', {}, problem.hint), retry));
    }
  }

  private setMessage(state: 'loading' | 'error', message: HTMLElement): void {
    this.element.dataset.state = state;
    this.element.replaceChildren(message);
  }

  private render(): void {
    const request = this.request!;
    const { red, latency, heatmap, operations } = this.data!;
    const totals = redTotals(red);
    const section = this.element;
    section.dataset.state = totals.requests > 0 || latency.count > 0 ? 'ready' : 'empty';
    Object.assign(section.dataset, {
      start: String(Math.floor(request.window.start)),
      end: String(Math.ceil(request.window.end)),
      step: String(red.step),
      requests: String(totals.requests),
      errors: String(totals.errors),
      p95: String(latency.p95Ms),
    });
    const totalsLine = el(
      'p',
      { class: 'panel-totals' },
      el('span', {}, el('strong', {}, count(totals.requests)), ' requests'),
      el('span', {}, el('strong', {}, count(totals.errors)), ` errors (${formatPercent(totals.errorRate)})`),
      el('span', {}, 'p95 ', el('strong', {}, formatMs(latency.p95Ms))),
      el('span', { class: 'muted' }, `${red.step / 60} min slots`),
    );
    if (section.dataset.state === 'empty') {
      section.replaceChildren(
        totalsLine,
        el(
          'div',
          { class: 'panel-message', role: 'status' },
          el('p', {}, el('strong', {}, request.subject.kind === 'node' ? 'It served no calls in this window.' : 'No calls on this edge in this window.')),
          el('p', {}, request.subject.kind === 'node' ? 'A node that only calls others has its figures on its edges: select one of them. Or widen the time range, or pick all signals.' : 'Widen the time range, or pick all signals.'),
        ),
      );
      return;
    }
    const traceNote = request.subject.traceService === null ? [el('p', { class: 'muted' }, 'This node sends no spans of its own: select the edge from a caller to search its traces.')] : [];
    section.replaceChildren(
      totalsLine,
      ...traceNote,
      el('h3', {}, 'Requests and errors'),
      this.countsFigure(red, request),
      el('h3', {}, 'Latency over time'),
      this.latencyFigure(red, request),
      el('h3', {}, 'Latency histogram'),
      this.histogramFigure(latency, request),
      el('h3', {}, 'Latency heatmap'),
      this.heatmapFigure(heatmap, red.step, request),
      ...(operations !== null && request.subject.operationsOf ? [el('h3', {}, request.subject.operationsOf.title), this.operationsTable(operations, request)] : []),
    );
  }

  /** A search for the subject's traces, or null when it has no service to search in. */
  private search(request: PanelRequest, fields: Omit<TraceSearch, 'service'>): TraceSearch | null {
    const service = request.subject.traceService;
    return service === null ? null : { service, ...fields };
  }

  // ---- charts ------------------------------------------------------------------------------------------------

  private countsFigure(red: RedAnswer, request: PanelRequest): HTMLElement {
    const box: ChartBox = { width: WIDTH, height: 96, margin: { top: 6, right: 8, bottom: 20, left: 38 } };
    const requests = countChart(red, red.requests, box);
    const errors = countChart(red, red.errors, box, requests.y.domain()[1]);
    const svg = this.svg(box, `Requests and errors per ${red.step / 60} minute slot`);
    const g = select(svg);
    this.frameBand(svg, requests.x, box, request.frame);
    g.append('g').attr('class', 'bars requests').selectAll('rect').data(requests.bars).join('rect')
      .attr('x', (b) => b.x).attr('y', (b) => b.y).attr('width', (b) => b.width).attr('height', (b) => b.height);
    g.append('g').attr('class', 'bars errors').selectAll('rect').data(errors.bars.filter((b) => b.value > 0)).join('rect')
      .attr('x', (b) => b.x).attr('y', (b) => b.y).attr('width', (b) => b.width).attr('height', (b) => b.height);
    this.axes(svg, box, axisBottom(requests.x).ticks(4), axisLeft(requests.y).ticks(3).tickFormat((v) => count(Number(v))));
    const items: Pickable[] = requests.bars.map((bar, i) => {
      const failed = red.errors[i] ?? 0;
      const links = [this.search(request, { start: bar.start, end: bar.end }), failed > 0 ? this.search(request, { start: bar.start, end: bar.end, errorsOnly: true }) : null];
      return {
        x: bar.x, y: box.margin.top, width: bar.width, height: box.height - box.margin.top - box.margin.bottom,
        text: `${slotLabel(bar.start, bar.end)}: ${count(bar.value)} requests, ${count(failed)} errors`,
        links: [
          ...(links[0] ? [{ label: 'Traces in this slot', search: links[0] }] : []),
          ...(links[1] ? [{ label: 'Error traces', search: links[1] }] : []),
        ],
      };
    });
    const legend = el('div', { class: 'chart-legend' }, el('span', { class: 'key requests' }, 'requests'), el('span', { class: 'key errors' }, 'errors'));
    return this.interactive('counts', svg, items, legend, (px) => items.findIndex((item) => px >= item.x && px < item.x + item.width + 1));
  }

  private latencyFigure(red: RedAnswer, request: PanelRequest): HTMLElement {
    const box: ChartBox = { width: WIDTH, height: 110, margin: { top: 8, right: 8, bottom: 20, left: 44 } };
    const chart = latencyChart(red, box);
    const svg = this.svg(box, 'Latency percentiles p50, p95 and p99 over time');
    const g = select(svg);
    this.frameBand(svg, chart.x, box, request.frame);
    // p99 first: where percentiles coincide (few calls) the lower ones stay visible on top.
    for (const name of ['p99', 'p95', 'p50'] as const) {
      g.append('path').attr('class', `line ${name}`).attr('d', chart.lines[name]);
      // Lone points (a slot between two empty ones) have no line: a dot shows them.
      g.append('g').attr('class', `dots ${name}`).selectAll('circle').data(chart.points[name]).join('circle').attr('cx', (p) => p.x).attr('cy', (p) => p.y).attr('r', 1.8);
    }
    this.axes(svg, box, axisBottom(chart.x).ticks(4), axisLeft(chart.y).ticks(3).tickFormat((v) => formatDuration(Number(v))));
    const stepMs = red.step * 1000;
    const items: Pickable[] = red.times.map((start, i) => {
      const end = start + stepMs;
      const p95 = red.p95Ms[i] ?? null;
      const p99 = red.p99Ms[i] ?? null;
      const x0 = chart.x(new Date(start));
      const links = p95 === null ? [] : [
        { label: `Traces ≥ p95 (${formatMs(p95)})`, search: this.search(request, { start, end, minDurationMs: p95 }) },
        ...(p99 !== null ? [{ label: `≥ p99 (${formatMs(p99)})`, search: this.search(request, { start, end, minDurationMs: p99 }) }] : []),
      ];
      return {
        x: x0, y: box.margin.top, width: chart.x(new Date(end)) - x0, height: box.height - box.margin.top - box.margin.bottom,
        text: p95 === null ? `${slotLabel(start, end)}: no calls` : `${slotLabel(start, end)}: p50 ${formatMs(red.p50Ms[i] ?? null)} · p95 ${formatMs(p95)} · p99 ${formatMs(p99)}`,
        links: links.filter((l): l is { label: string; search: TraceSearch } => l.search !== null),
      };
    });
    const legend = el('div', { class: 'chart-legend' }, el('span', { class: 'key p50' }, 'p50'), el('span', { class: 'key p95' }, 'p95'), el('span', { class: 'key p99' }, 'p99'));
    return this.interactive('latency', svg, items, legend, (px) => items.findIndex((item) => px >= item.x && px < item.x + item.width));
  }

  private histogramFigure(latency: LatencyAnswer, request: PanelRequest): HTMLElement {
    const box: ChartBox = { width: WIDTH, height: 100, margin: { top: 12, right: 10, bottom: 20, left: 38 } };
    const chart = histogramChart(latency, box);
    const svg = this.svg(box, `Latency histogram of ${latency.count} calls`);
    const g = select(svg);
    g.append('g').attr('class', 'bars histogram').selectAll('rect').data(chart.bars).join('rect')
      .attr('x', (b) => b.x).attr('y', (b) => b.y).attr('width', (b) => b.width).attr('height', (b) => b.height);
    const markers = g.append('g').attr('class', 'markers').selectAll('g').data(chart.markers).join('g').attr('class', (m) => `marker ${m.name}`);
    markers.append('line').attr('x1', (m) => m.x).attr('x2', (m) => m.x).attr('y1', box.margin.top).attr('y2', box.height - box.margin.bottom);
    markers.append('text').attr('x', (m) => m.x + 2).attr('y', (_, i) => box.margin.top + 7 + i * 10).text((m) => m.name);
    this.axes(svg, box, axisBottom(chart.x).tickValues(durationTicks(chart.x.domain() as [number, number])).tickFormat((v) => shortDuration(Number(v))), axisLeft(chart.y).ticks(3).tickFormat((v) => count(Number(v))));
    const window = request.window;
    const items: Pickable[] = chart.bars.map((bar) => {
      const search = this.search(request, { ...window, minDurationMs: bar.bin.lowerMs, ...(bar.bin.upperMs !== null ? { maxDurationMs: bar.bin.upperMs } : {}) });
      return {
        x: bar.x, y: box.margin.top, width: bar.width, height: box.height - box.margin.top - box.margin.bottom,
        text: `${binLabel(bar.bin.lowerMs, bar.bin.upperMs)}: ${count(bar.bin.count)} calls (${formatPercent(bar.bin.share)})`,
        links: search && bar.bin.count > 0 ? [{ label: 'Traces in this range', search }] : [],
      };
    });
    return this.interactive('histogram', svg, items, null, (px) => items.findIndex((item) => px >= item.x && px < item.x + item.width + 1));
  }

  private heatmapFigure(data: HeatmapAnswer, stepSeconds: number, request: PanelRequest): HTMLElement {
    const box: ChartBox = { width: WIDTH, height: 140, margin: { top: 6, right: 8, bottom: 20, left: 52 } };
    const style = getComputedStyle(document.documentElement);
    const chart = heatmapChart(data, stepSeconds, box, { low: style.getPropertyValue('--heat-low').trim() || '#cfe0fb', high: style.getPropertyValue('--heat-high').trim() || '#0b3d91' });
    const svg = this.svg(box, `Latency heatmap: calls per time slot and latency range, ${chart.cells.length} cells with calls`);
    svg.classList.add('heatmap');
    const g = select(svg);
    g.append('rect').attr('class', 'plot-bg').attr('x', box.margin.left).attr('y', box.margin.top)
      .attr('width', box.width - box.margin.left - box.margin.right).attr('height', box.height - box.margin.top - box.margin.bottom);
    this.frameBand(svg, chart.x, box, request.frame);
    g.append('g').attr('class', 'cells').selectAll('rect').data(chart.cells).join('rect')
      .attr('class', 'cell').attr('x', (c) => c.x).attr('y', (c) => c.y).attr('width', (c) => c.width).attr('height', (c) => c.height).attr('fill', (c) => c.colour)
      .attr('data-start', (c) => c.start).attr('data-end', (c) => c.end).attr('data-lower-ms', (c) => c.lowerMs).attr('data-upper-ms', (c) => c.upperMs ?? '').attr('data-count', (c) => c.count);
    // Row labels: each row's upper bound (the +Inf row: '+Inf').
    const rowLabel = (bucket: number) => {
      const le = data.bucketsLeMs[bucket];
      return le === null || le === undefined ? '+Inf' : `≤${formatDuration(le)}`;
    };
    this.axes(svg, box, axisBottom(chart.x).ticks(4), axisLeft(chart.y).tickFormat(rowLabel).tickSize(0).tickPadding(4));
    const items: Pickable[] = chart.cells.map((cell) => {
      const search = this.search(request, { start: cell.start, end: cell.end, minDurationMs: cell.lowerMs, ...(cell.upperMs !== null ? { maxDurationMs: cell.upperMs } : {}) });
      return {
        x: cell.x, y: cell.y, width: cell.width, height: cell.height,
        text: `${slotLabel(cell.start, cell.end)}, ${binLabel(cell.lowerMs, cell.upperMs)}: ${count(cell.count)} calls`,
        links: search ? [{ label: 'Traces in this cell', search }] : [],
        data: { start: String(cell.start), end: String(cell.end), lowerMs: String(cell.lowerMs), upperMs: cell.upperMs === null ? '' : String(cell.upperMs) },
      };
    });
    const scale = el('div', { class: 'chart-legend' }, el('span', { class: 'heat-scale', 'aria-hidden': 'true' }), `1 … ${count(chart.maxCount)} calls per cell`);
    return this.interactive('heatmap', svg, items, scale, (px, py) => items.findIndex((item) => px >= item.x && px < item.x + item.width + 1 && py >= item.y && py < item.y + item.height + 1));
  }

  private operationsTable(operations: OperationSummary[], request: PanelRequest): HTMLElement {
    if (operations.length === 0) return el('p', { class: 'muted' }, 'No operations recorded: operations come from server spans; meshes without spans have none.');
    const rows = operations.map((op) => {
      const search = this.search(request, { ...request.window, operation: op.name });
      const name = search ? el('a', { href: traceSearchHref(search), title: `Traces of ${op.name}` }, op.name) : op.name;
      return el('tr', { 'data-operation': op.name }, el('td', { class: 'name' }, name), el('td', {}, count(op.requests)), el('td', {}, formatPercent(op.errorRate)), el('td', {}, formatMs(op.p95Ms)));
    });
    return el('table', { class: 'operations' }, el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'operation'), el('th', { scope: 'col' }, 'requests'), el('th', { scope: 'col' }, 'errors'), el('th', { scope: 'col' }, 'p95'))), el('tbody', {}, ...rows));
  }

  // ---- shared chart pieces -----------------------------------------------------------------------------------

  private svg(box: ChartBox, label: string): SVGSVGElement {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${box.width} ${box.height}`);
    svg.setAttribute('width', String(box.width));
    svg.setAttribute('height', String(box.height));
    svg.setAttribute('class', 'chart');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    return svg;
  }

  private axes(svg: SVGSVGElement, box: ChartBox, bottom: DrawAxis, left: DrawAxis): void {
    const g = select(svg);
    g.append('g').attr('class', 'axis x').attr('transform', `translate(0,${box.height - box.margin.bottom})`).call(bottom);
    g.append('g').attr('class', 'axis y').attr('transform', `translate(${box.margin.left},0)`).call(left);
  }

  /** The replayed frame as a band behind a time chart. */
  private frameBand(svg: SVGSVGElement, x: (date: Date) => number, box: ChartBox, frame: PanelRequest['frame']): void {
    if (frame === null) return;
    const x0 = Math.max(box.margin.left, x(new Date(frame.start)));
    const x1 = Math.min(box.width - box.margin.right, x(new Date(frame.end + 1)));
    if (x1 <= x0) return;
    select(svg).append('rect').attr('class', 'frame-band').attr('x', x0).attr('y', box.margin.top).attr('width', x1 - x0).attr('height', box.height - box.margin.top - box.margin.bottom);
  }

  /**
   * Makes a chart pickable: click (or arrow keys when focused) puts the cursor on an item; the readout says
   * what it is and links to its traces.
   */
  private interactive(name: string, svg: SVGSVGElement, items: Pickable[], legend: HTMLElement | null, pick: (px: number, py: number) => number): HTMLElement {
    const cursor = document.createElementNS(SVG, 'rect');
    cursor.setAttribute('class', 'cursor');
    cursor.style.display = 'none';
    svg.append(cursor);
    svg.setAttribute('tabindex', '0');
    svg.setAttribute('aria-describedby', `readout-${name}`);
    const readout = el('p', { class: 'chart-readout', id: `readout-${name}`, 'aria-live': 'polite' });
    const idle = () => readout.replaceChildren(el('span', { class: 'muted' }, items.some((item) => item.links.length > 0) ? 'Click the chart (or focus it and use ← →) for the traces behind a point.' : 'Click the chart (or focus it and use ← →) to read a point.'));
    const place = (index: number) => {
      const item = items[index];
      if (item === undefined) return;
      this.cursors.set(name, index);
      cursor.style.display = '';
      cursor.setAttribute('x', String(item.x - 1));
      cursor.setAttribute('y', String(item.y - 1));
      cursor.setAttribute('width', String(item.width + 2));
      cursor.setAttribute('height', String(item.height + 2));
      readout.replaceChildren(el('span', {}, item.text), ...item.links.map((link) => el('a', { href: traceSearchHref(link.search), class: 'trace-link' }, `${link.label} ›`)));
      if (item.data) Object.assign(readout.dataset, item.data);
    };
    svg.addEventListener('click', (event) => {
      const box = svg.getBoundingClientRect();
      const scale = Number(svg.getAttribute('width')) / box.width;
      const index = pick((event.clientX - box.left) * scale, (event.clientY - box.top) * scale);
      if (index >= 0) place(index);
    });
    svg.addEventListener('keydown', (event) => {
      const current = this.cursors.get(name) ?? -1;
      const moves: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1, Home: -Infinity, End: Infinity };
      const move = moves[event.key];
      if (move === undefined || items.length === 0) return;
      event.preventDefault();
      const next = move === -Infinity ? 0 : move === Infinity ? items.length - 1 : current < 0 ? 0 : Math.min(items.length - 1, Math.max(0, current + move));
      place(next);
    });
    const remembered = this.cursors.get(name);
    if (remembered !== undefined && remembered < items.length) place(remembered);
    else idle();
    return el('figure', { class: `chart-figure ${name}` }, svg, ...(legend ? [legend] : []), readout);
  }
}
