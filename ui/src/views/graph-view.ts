// The live traffic graph: toolbar (live/refresh, time range, namespace, signal, search), the canvas with
// pan/zoom and picking, hover tooltips, a details panel for the selection, loading/empty/error states, and an
// accessible list of every drawn node and edge (screen readers, keyboard selection, and the browser tests).
import { select } from 'd3-selection';
import { ApiError, SIGNALS, type ServiceGraph, type Signal, fetchServiceGraph } from '../api.ts';
import { edgeWidth, formatMs, formatPercent, formatRps } from '../graph/geometry.ts';
import { type Hit, GraphInteraction } from '../graph/interaction.ts';
import { type Positions, layoutGraph } from '../graph/layout.ts';
import { type GraphEdgeModel, type GraphModel, type GraphNodeModel, buildModel, neighbourhood, restrictModel, searchNodes } from '../graph/model.ts';
import { GraphRenderer, readPalette } from '../graph/render.ts';
import { FRAME_LENGTHS, type Frame, frameGraph, frameIndexAt, frameSecondsFor, replayFrames } from '../graph/replay.ts';
import type { MountedView } from '../main.ts';
import { RANGES, REFRESH_INTERVALS, type RangeName, type Selection, type ViewState, navigate, windowOf } from '../url-state.ts';
import { type PanelSubject, SidePanel } from './side-panel.ts';

const KIND_LABEL: Record<GraphNodeModel['kind'], string> = { service: 'service', virtual: 'virtual (seen only as a peer)', database: 'database', messaging: 'messaging', unknown: 'unknown caller' };
const MTLS_LABEL: Record<GraphEdgeModel['mtls'], string> = { all: 'mTLS', none: 'plaintext', mixed: 'mixed (some plaintext)', unknown: 'unknown' };

/** Small DOM builder: el('button', { type: 'button' }, 'text'). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function option(value: string, label: string): HTMLOptionElement {
  return el('option', { value }, label);
}

/** 'YYYY-MM-DDTHH:MM' in local time, as <input type="datetime-local"> wants it. */
function toLocalInput(ms: number): string {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return date.toISOString().slice(0, 16);
}

function nodeTitle(node: GraphNodeModel): string {
  return node.version !== null && node.name === node.serviceName ? `${node.name} ${node.version}` : node.name;
}

export function mountGraphView(container: HTMLElement, initial: ViewState): MountedView {
  let state = initial;

  // ---- toolbar -------------------------------------------------------------------------------------------
  const liveButton = el('button', { type: 'button', class: 'live', 'aria-pressed': 'false', title: 'Refresh automatically' }, el('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live');
  const refreshSelect = el('select', { 'aria-label': 'Refresh interval' });
  for (const seconds of REFRESH_INTERVALS) refreshSelect.append(option(String(seconds), seconds < 60 ? `every ${seconds}s` : 'every 1m'));
  const rangeSelect = el('select', { 'aria-label': 'Time range' });
  for (const name of Object.keys(RANGES)) rangeSelect.append(option(name, `last ${name}`));
  rangeSelect.append(option('custom', 'custom…'));
  const fromInput = el('input', { type: 'datetime-local', 'aria-label': 'From' });
  const toInput = el('input', { type: 'datetime-local', 'aria-label': 'To' });
  const applyCustom = el('button', { type: 'button' }, 'Apply');
  const customGroup = el('span', { class: 'group custom-range' }, fromInput, '–', toInput, applyCustom);
  const namespaceSelect = el('select', { 'aria-label': 'Namespace' });
  const signalSelect = el('select', { 'aria-label': 'Signal' });
  for (const signal of SIGNALS) signalSelect.append(option(signal, signal === 'all' ? 'all signals' : signal));
  const searchInput = el('input', { type: 'search', placeholder: 'Search services  ( / )', 'aria-label': 'Search services by name' });
  const fitButton = el('button', { type: 'button', title: 'Fit the graph to the window (key 0)' }, 'Fit');
  const relayoutButton = el('button', { type: 'button', title: 'Lay the graph out again from scratch' }, 'Re-layout');
  const status = el('span', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const toolbar = el(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'Graph controls' },
    el('span', { class: 'group' }, liveButton, refreshSelect),
    el('label', {}, 'Range', rangeSelect),
    customGroup,
    el('label', {}, 'Namespace', namespaceSelect),
    el('label', {}, 'Signal', signalSelect),
    searchInput,
    el('span', { class: 'group' }, fitButton, relayoutButton),
    status,
  );

  // ---- stage ---------------------------------------------------------------------------------------------
  const canvas = el('canvas', { tabindex: '0', role: 'application', 'aria-roledescription': 'traffic graph', 'aria-label': 'Service graph', 'aria-describedby': 'graph-lists-heading' });
  const tooltip = el('div', { class: 'tooltip', role: 'tooltip' });
  tooltip.hidden = true;
  const overlay = el('div', { class: 'overlay' });
  const nodeList = el('ul', { id: 'graph-node-list', 'aria-label': 'Nodes' });
  const edgeList = el('ul', { id: 'graph-edge-list', 'aria-label': 'Edges' });
  const lists = el('nav', { class: 'graph-lists', 'aria-labelledby': 'graph-lists-heading' }, el('h2', { id: 'graph-lists-heading', class: 'visually-hidden' }, 'Nodes and edges of the graph'), nodeList, edgeList);
  const legend = el('div', { class: 'legend', 'aria-hidden': 'true' });
  // Inline SVG glyphs: emoji or symbol fonts are not on every machine (headless Linux has none).
  const glyph = (body: string) => `<svg width="16" height="14" viewBox="-8 -7 16 14" aria-hidden="true" style="vertical-align:-2px;margin-right:3px" fill="none" stroke="currentColor" stroke-width="1.4">${body}</svg>`;
  const lock = (open: boolean, colour: string) => glyph(`<rect x="-4" y="-1" width="8" height="6" fill="${colour}" stroke="none"/><path d="${open ? 'M0.5,-1 v-2.5 a2.6,2.6 0 0 1 5.2,0' : 'M-2.6,-1 v-1.5 a2.6,2.6 0 0 1 5.2,0 v1.5'}" stroke="${colour}" stroke-width="1.6"/>`);
  legend.innerHTML =
    '<span><span class="swatch" style="background:var(--health-ok)"></span>no errors</span>' +
    '<span><span class="swatch" style="background:var(--health-warn)"></span>errors ≥ 0.1%</span>' +
    '<span><span class="swatch" style="background:var(--health-error)"></span>errors ≥ 5%</span>' +
    '<span>width ∝ log(rate), dots = flow</span>' +
    `<span>${lock(false, 'var(--mtls)')}mTLS</span><span>${lock(true, 'var(--plaintext)')}plaintext</span>` +
    `<span>${glyph('<circle r="5.5"/>')}service</span><span>${glyph('<circle r="5.5" stroke-dasharray="2.5 2"/>')}virtual</span>` +
    `<span>${glyph('<path d="M0,-6 L6,0 L0,6 L-6,0 Z"/>')}unknown</span><span>${glyph('<path d="M-5,-4 v8 a5,2 0 0 0 10,0 v-8 a5,2 0 0 0 -10,0 a5,2 0 0 0 10,0"/>')}database</span>` +
    `<span>${glyph('<rect x="-6.5" y="-4.5" width="13" height="9" rx="2"/><path d="M-2.5,-2 v4 M0,-2 v4 M2.5,-2 v4"/>')}messaging</span>` +
    `<span>${glyph('<rect x="-6.5" y="-5.5" width="13" height="11" rx="2" stroke-dasharray="2.5 2"/>')}versions</span>`;
  const stage = el('div', { class: 'graph-stage', 'data-state': 'loading' }, canvas, overlay, legend, lists);
  const details = el('aside', { class: 'details', 'aria-label': 'Selection details' });
  details.hidden = true;
  const body = el('div', { class: 'graph-body', style: 'display:flex;flex:1;min-height:0' }, stage, details);
  // ---- timeline scrubber: replays the window frame by frame over the same layout ----------------------------
  // Inline SVG icons, for the same reason as the legend's glyphs: no symbol font on every machine.
  const icon = (body: string) => `<svg width="11" height="11" viewBox="0 0 12 12" aria-hidden="true" fill="currentColor" style="vertical-align:-1px">${body}</svg>`;
  const ICONS = {
    play: icon('<path d="M2,1 L11,6 L2,11 Z"/>'),
    pause: icon('<rect x="2" y="1" width="3" height="10"/><rect x="7" y="1" width="3" height="10"/>'),
    previous: icon('<rect x="1" y="1" width="2" height="10"/><path d="M11,1 L4,6 L11,11 Z"/>'),
    next: icon('<path d="M1,1 L8,6 L1,11 Z"/><rect x="9" y="1" width="2" height="10"/>'),
  };
  const replayButton = el('button', { type: 'button', title: 'Step through this window frame by frame; the graph keeps its layout' });
  replayButton.innerHTML = `${ICONS.play} Replay this window`;
  const previousFrame = el('button', { type: 'button', 'aria-label': 'Previous frame', title: 'Previous frame' });
  previousFrame.innerHTML = ICONS.previous;
  const playButton = el('button', { type: 'button', 'aria-pressed': 'false', class: 'play' });
  playButton.innerHTML = `${ICONS.play} Play`;
  const nextFrame = el('button', { type: 'button', 'aria-label': 'Next frame', title: 'Next frame' });
  nextFrame.innerHTML = ICONS.next;
  const frameSlider = el('input', { type: 'range', min: '0', max: '0', step: '1', value: '0', 'aria-label': 'Frame' });
  const frameLabel = el('span', { class: 'frame-label', 'aria-live': 'polite' });
  const frameLengthSelect = el('select', { 'aria-label': 'Frame length' });
  for (const seconds of FRAME_LENGTHS) frameLengthSelect.append(option(String(seconds), seconds < 3600 ? `${seconds / 60} min frames` : '1 h frames'));
  const exitReplay = el('button', { type: 'button' }, 'Exit replay');
  const replayControls = el('span', { class: 'group replay-controls' }, previousFrame, playButton, nextFrame, frameSlider, frameLabel, frameLengthSelect, exitReplay);
  const scrubber = el('div', { class: 'scrubber', role: 'group', 'aria-label': 'Timeline replay' }, replayButton, replayControls);
  const root = el('div', { class: 'graph-view', style: 'display:flex;flex-direction:column;flex:1;min-width:0' }, toolbar, scrubber, body);
  container.append(root, tooltip);

  // ---- drawing and interaction ---------------------------------------------------------------------------
  const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');
  const renderer = new GraphRenderer(canvas, readPalette(document.documentElement), !reducedMotion.matches);
  reducedMotion.addEventListener('change', () => renderer.setAnimate(!reducedMotion.matches));
  // The animation pauses while the tab is hidden; start it again when the tab shows.
  const resume = () => renderer.invalidate();
  document.addEventListener('visibilitychange', resume);
  let model: GraphModel | null = null;
  let shown: GraphModel | null = null;
  /** Every node's last position this session: nodes that come back land where they were. */
  let positions: Positions = new Map();
  let hover: Hit = null;
  let needsFit = true;
  /** Once the user pans or zooms, a resize (the details panel opening) no longer refits the graph. */
  let userMoved = false;

  const interaction = new GraphInteraction(canvas, {
    onTransform: (transform, byUser) => {
      if (byUser) userMoved = true;
      renderer.setTransform(transform);
      // Where the drawing sits, for tools and tests that map a node's layout position to the screen.
      canvas.dataset.zoom = `${transform.x.toFixed(2)},${transform.y.toFixed(2)},${transform.k.toFixed(4)}`;
    },
    onHover: (hit, x, y) => {
      if (hit?.id !== hover?.id || hit?.kind !== hover?.kind) {
        hover = hit;
        drawScene();
      }
      showTooltip(hit, x, y);
    },
    onClick: (hit) => navigate({ selected: hit }),
    onFitRequest: () => fit(true),
    onDoubleClick: (hit) => {
      if (hit?.kind === 'node') navigate({ focus: state.focus === hit.id ? '' : hit.id, selected: hit });
    },
  });
  /**
   * The canvas' CSS size as the ResizeObserver last reported it. Layout code reads this, never
   * canvas.clientWidth: after a refresh has written to the DOM, that read forces a synchronous style and
   * layout pass of the whole page (the 2,500-button list included) in the middle of the refresh.
   */
  const canvasSize = { width: 0, height: 0 };
  const resizeObserver = new ResizeObserver((entries) => {
    const box = entries[entries.length - 1]!.contentRect;
    canvasSize.width = box.width;
    canvasSize.height = box.height;
    renderer.resize(box.width, box.height);
    interaction.setSize(box.width, box.height);
    if ((needsFit || !userMoved) && shown !== null) fit(false);
  });
  resizeObserver.observe(canvas);

  function drawScene(): void {
    if (shown === null) return;
    const matches = new Set(searchNodes(shown, state.search));
    renderer.setScene({
      model: shown,
      positions,
      selectedNode: state.selected?.kind === 'node' ? state.selected.id : null,
      selectedEdge: state.selected?.kind === 'edge' ? state.selected.id : null,
      hoveredNode: hover?.kind === 'node' ? hover.id : null,
      hoveredEdge: hover?.kind === 'edge' ? hover.id : null,
      matches,
    });
    interaction.update(new Map(shown.nodes.map((node) => [node.id, positions.get(node.id)!])), renderer.drawnEdges());
  }

  /** Zooms to the whole (shown) graph, or with `toMatches` to the search matches if there are any. */
  function fit(animate: boolean, toMatches = false): void {
    // Not laid out yet: the ResizeObserver's first report fits it (needsFit stays set).
    if (shown === null || canvasSize.width === 0) return;
    const matches = toMatches ? searchNodes(shown, state.search) : [];
    const ids = matches.length > 0 ? matches : shown.nodes.map((node) => node.id);
    // Nothing to fit yet (an empty window): fit when the first nodes arrive.
    if (ids.length === 0) return;
    interaction.fit(ids.map((id) => positions.get(id)!).filter(Boolean), animate);
    needsFit = false;
    // A zoom to search matches is a view the user asked for: live refreshes keep it.
    userMoved = matches.length > 0;
  }

  function showTooltip(hit: Hit, x: number, y: number): void {
    const text = hit === null || shown === null ? null : hit.kind === 'node' ? nodeSummary(shown.nodeById.get(hit.id)) : edgeSummary(shown.edges.find((edge) => edge.id === hit.id), shown);
    if (text === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.replaceChildren(el('strong', {}, text.title), ...text.lines.flatMap((line) => [line, el('br')]).slice(0, -1));
    tooltip.hidden = false;
    const width = tooltip.offsetWidth;
    tooltip.style.left = `${Math.min(x + 14, window.innerWidth - width - 8)}px`;
    tooltip.style.top = `${y + 14}px`;
  }

  // ---- data ------------------------------------------------------------------------------------------------
  let loadController: AbortController | null = null;
  let refreshTimer: number | undefined;
  let fetchKey = '';
  /** The window the graph was last fetched for (the whole window while replaying). */
  let shownWindow = { start: 0, end: 0 };
  /** While replaying: the frames of the window, the one shown, and the whole window's graph (it sets the layout). */
  let frames: Frame[] = [];
  let frame: Frame | null = null;
  let whole: { key: string; graph: ServiceGraph } | null = null;
  let playing = false;
  let playTimer: number | undefined;
  const panel = new SidePanel();
  const knownNamespaces = new Set<string>();

  /** `liveRefresh`: started by the refresh timer (the list then follows the drawing a frame later). */
  async function load(liveRefresh = false): Promise<void> {
    loadController?.abort();
    const controller = new AbortController();
    loadController = controller;
    if (model === null) setOverlay('loading');
    const window = windowOf(state.time, Date.now());
    const filters = { namespace: state.namespace, signal: state.signal };
    try {
      let graph: ServiceGraph;
      if (state.replay && state.time.kind === 'absolute') {
        // The whole window's graph lays the nodes out once; each frame is drawn over that layout.
        const wholeKey = JSON.stringify([window, filters]);
        if (whole?.key !== wholeKey) {
          const wholeGraph = await fetchServiceGraph({ ...window, ...filters }, controller.signal);
          if (controller.signal.aborted) return;
          whole = { key: wholeKey, graph: wholeGraph };
          for (const [id, point] of layoutGraph(buildModel(wholeGraph), positions)) positions.set(id, point);
        }
        frames = replayFrames(window, frameSecondsFor(window, state.replay.frameSeconds));
        frame = frames[frameIndexAt(frames, state.replay.at)] ?? null;
        if (frame === null) return;
        graph = frameGraph(whole.graph, await fetchServiceGraph({ ...frame, ...filters }, controller.signal));
      } else {
        frames = [];
        frame = null;
        graph = await fetchServiceGraph({ ...window, ...filters }, controller.signal);
      }
      if (controller.signal.aborted) return;
      shownWindow = window;
      let mark = performance.now();
      model = buildModel(graph);
      for (const group of model.namespaces) if (group.namespace !== '') knownNamespaces.add(group.namespace);
      mark = measure('model', mark);
      const laidOut = layoutGraph(model, positions);
      for (const [id, point] of laidOut) positions.set(id, point);
      measure('layout', mark);
      showModel(liveRefresh);
      renderScrubber();
      status.textContent = `${model.nodes.length} nodes · ${model.edges.length} edges · updated ${new Date().toLocaleTimeString()}`;
      if (frame !== null) {
        stage.dataset.frame = String(frame.start);
        schedulePlay();
      } else delete stage.dataset.frame;
      setOverlay(model.nodes.length === 0 ? 'empty' : 'ready');
    } catch (error) {
      if (controller.signal.aborted || (error as Error).name === 'AbortError') return;
      if (model !== null) status.textContent = `update failed at ${new Date().toLocaleTimeString()}; showing the last graph (${model.nodes.length} nodes · ${model.edges.length} edges)`;
      setOverlay('error', error instanceof ApiError ? error : new ApiError(String((error as Error).message), 'Reload the page; if it persists, report it with the browser console output.', null));
    }
  }

  /**
   * Draws the model and updates the lists and details. `deferLists` (a live refresh): the accessible list
   * is updated in a task of its own after the next frame, so that the refresh's script, the canvas' redraw
   * and the list's restyle do not all land in one frame; anything the user does updates it at once.
   */
  function showModel(deferLists = false): void {
    if (model === null) return;
    let mark = performance.now();
    shown = state.focus && model.nodeById.has(state.focus) ? restrictModel(model, neighbourhood(model, state.focus)) : model;
    drawScene();
    mark = measure('scene', mark);
    // The deferred update draws whatever is shown by then, so an update in between does no harm.
    if (deferLists) requestAnimationFrame(() => window.setTimeout(() => measure('lists', performance.now(), renderLists)));
    else mark = measure('lists', mark, renderLists);
    renderDetails();
    syncNamespaceOptions();
    // Until the user pans or zooms, keep the whole graph in view (unchanged positions give the same fit).
    if (needsFit || !userMoved) fit(false);
    measure('details and fit', mark);
  }

  function setOverlay(kind: 'loading' | 'ready' | 'empty' | 'error', error?: ApiError): void {
    stage.dataset.state = kind;
    overlay.replaceChildren();
    if (kind === 'loading') overlay.append(el('div', { class: 'message', role: 'status' }, 'Loading the service graph…'));
    if (kind === 'empty') {
      const widen = el('button', { type: 'button' }, 'Show the last 24 hours');
      widen.addEventListener('click', () => navigate({ time: { kind: 'relative', range: '24h' }, live: true }));
      const filtered = state.namespace !== '' || state.signal !== 'all';
      overlay.append(
        el(
          'div',
          { class: 'message empty', role: 'status' },
          el('p', {}, el('strong', {}, 'No traffic in this window.')),
          el('p', {}, 'Send spans to ', el('code', {}, '4317'), ' (OTLP gRPC) or ', el('code', {}, '4318'), ' (OTLP HTTP), or point your mesh at meshlens, or widen the range.'),
          ...(filtered ? [el('p', {}, 'Filters are on: try another namespace or all signals.')] : []),
          widen,
        ),
      );
    }
    if (kind === 'error' && error) {
      const retry = el('button', { type: 'button' }, 'Retry');
      retry.addEventListener('click', () => void load());
      overlay.append(el('div', { class: 'message error', role: 'alert' }, el('p', {}, el('strong', {}, error.message)), el('p', {}, error.hint), retry));
    }
  }

  function scheduleRefresh(): void {
    window.clearInterval(refreshTimer);
    refreshTimer = undefined;
    if (state.live && state.time.kind === 'relative') refreshTimer = window.setInterval(() => void load(true), state.refreshSeconds * 1000);
  }

  // ---- accessible lists and details -------------------------------------------------------------------------
  /** What each list button's label was last written from (the figures nodeSummary / edgeSummary read). */
  const labelInputs = new WeakMap<Element, readonly unknown[]>();
  /** Records `inputs` for the button; false when they equal the last ones, so the label need not be formatted again. */
  function labelChanged(button: Element, inputs: readonly unknown[]): boolean {
    const previous = labelInputs.get(button);
    labelInputs.set(button, inputs);
    return previous === undefined || previous.length !== inputs.length || previous.some((value, i) => value !== inputs[i]);
  }

  /**
   * The lists are updated in place, keyed by node and edge id (d3's data join): a live refresh of a
   * 500-node / 2,000-edge graph reuses the 2,500 buttons and writes only the texts and attributes that
   * changed, so the browser restyles and lays out only those, not the whole list.
   */
  function renderLists(): void {
    if (shown === null) return;
    const graph = shown;
    const selected = state.selected;
    setAttribute(canvas, 'aria-label', `Service graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges`);
    select(nodeList)
      .selectChildren<HTMLLIElement, GraphNodeModel>()
      .data(graph.nodes, (node) => node.id)
      .join((enter) => enter.append('li').each(function () {
        this.append(listButton((button) => navigate({ selected: { kind: 'node', id: button.dataset.nodeId! } })));
      }))
      .each(function (node) {
        const button = this.firstElementChild as HTMLButtonElement;
        const at = positions.get(node.id);
        setAttribute(button, 'data-node-id', node.id);
        setAttribute(button, 'data-kind', node.kind);
        setAttribute(button, 'data-requests', String(node.requests));
        setAttribute(button, 'data-version-share', node.versionShare === null ? null : String(node.versionShare));
        setAttribute(button, 'data-x', at ? at.x.toFixed(2) : null);
        setAttribute(button, 'data-y', at ? at.y.toFixed(2) : null);
        setAttribute(button, 'aria-pressed', String(isSelected(selected, 'node', node.id)));
        if (labelChanged(button, [node.kind, node.name, node.version, node.serviceName, node.namespace, node.requests, node.errorRate, node.p95Ms, node.versionShare])) {
          const summary = nodeSummary(node)!;
          setText(button, `${summary.title}: ${summary.lines.join(', ')}`);
        }
      });
    select(edgeList)
      .selectChildren<HTMLLIElement, GraphEdgeModel>()
      .data(graph.edges, (edge) => edge.id)
      .join((enter) => enter.append('li').each(function () {
        this.append(listButton((button) => navigate({ selected: { kind: 'edge', id: button.dataset.edgeId! } })));
      }))
      .each(function (edge) {
        const button = this.firstElementChild as HTMLButtonElement;
        setAttribute(button, 'data-edge-id', edge.id);
        setAttribute(button, 'data-source', edge.source);
        setAttribute(button, 'data-target', edge.target);
        setAttribute(button, 'data-mtls', edge.mtls);
        setAttribute(button, 'data-width', String(edgeWidth(edge.rps)));
        setAttribute(button, 'data-requests', String(edge.requests));
        setAttribute(button, 'aria-pressed', String(isSelected(selected, 'edge', edge.id)));
        const [source, target] = [graph.nodeById.get(edge.source), graph.nodeById.get(edge.target)];
        if (labelChanged(button, [edge.rps, edge.errorRate, edge.p95Ms, edge.mtls, edge.protocols.join(), source?.name, source?.version, target?.name, target?.version])) {
          const summary = edgeSummary(edge, graph)!;
          setText(button, `${summary.title}: ${summary.lines.join(', ')}`);
        }
      });
  }

  function renderDetails(): void {
    const selected = state.selected;
    if (selected === null || model === null) {
      details.hidden = true;
      return;
    }
    details.hidden = false;
    const closeButton = el('button', { type: 'button' }, 'Close');
    closeButton.addEventListener('click', () => navigate({ selected: null }));
    if (selected.kind === 'node') {
      const node = model.nodeById.get(selected.id);
      if (node === undefined) {
        details.replaceChildren(el('h2', {}, selected.id), el('p', {}, 'Not seen in this window or with these filters.'), closeButton);
        return;
      }
      const focusButton = el('button', { type: 'button', 'aria-pressed': String(state.focus === node.id) }, state.focus === node.id ? 'Show the whole graph' : 'Focus on neighbourhood');
      focusButton.addEventListener('click', () => navigate({ focus: state.focus === node.id ? '' : node.id }));
      const inbound = model.edges.filter((edge) => edge.target === node.id).length;
      const outbound = model.edges.filter((edge) => edge.source === node.id).length;
      details.replaceChildren(
        el('h2', { 'data-selected-node': node.id }, nodeTitle(node)),
        el('div', { class: 'kind' }, `${KIND_LABEL[node.kind]}${node.namespace ? ` in ${node.namespace}` : ''}`),
        definitionList([
          ['requests', node.requests.toLocaleString()],
          ['errors', `${node.errors.toLocaleString()} (${formatPercent(node.errorRate)})`],
          ['p50 / p95 / p99', `${formatMs(node.p50Ms)} / ${formatMs(node.p95Ms)} / ${formatMs(node.p99Ms)}`],
          ...(node.versionShare !== null ? [['traffic share', `${formatPercent(node.versionShare)} of ${node.serviceName}`] as [string, string]] : []),
          ['callers / callees', `${inbound} / ${outbound}`],
        ]),
        el('div', { class: 'actions' }, focusButton, closeButton),
        panel.element,
      );
      showPanel({
        kind: 'node',
        id: node.id,
        query: { service: node.id },
        traceService: node.kind === 'service' ? node.name : null,
        operationsOf: node.kind === 'service' ? { service: node.id, title: 'Top operations' } : null,
      });
    } else {
      const edge = model.edges.find((candidate) => candidate.id === selected.id);
      if (edge === undefined) {
        details.replaceChildren(el('h2', {}, selected.id), el('p', {}, 'Not seen in this window or with these filters.'), closeButton);
        return;
      }
      const sourceButton = el('button', { type: 'button' }, 'Select caller');
      sourceButton.addEventListener('click', () => navigate({ selected: { kind: 'node', id: edge.source } }));
      const targetButton = el('button', { type: 'button' }, 'Select callee');
      targetButton.addEventListener('click', () => navigate({ selected: { kind: 'node', id: edge.target } }));
      details.replaceChildren(
        el('h2', { 'data-selected-edge': edge.id }, `${edge.source} → ${edge.target}`),
        el('div', { class: 'kind' }, edge.protocols.join(', ')),
        definitionList([
          ['rate', formatRps(edge.rps)],
          ['requests', edge.requests.toLocaleString()],
          ['errors', `${edge.errors.toLocaleString()} (${formatPercent(edge.errorRate)})`],
          ['p50 / p95 / p99', `${formatMs(edge.p50Ms)} / ${formatMs(edge.p95Ms)} / ${formatMs(edge.p99Ms)}`],
          ['security', MTLS_LABEL[edge.mtls]],
          ['signals', edge.signals.join(', ')],
        ]),
        el('div', { class: 'actions' }, sourceButton, targetButton, closeButton),
        panel.element,
      );
      // An edge's traces: the callee's spans when it sends any, else the caller's (a database, a broker).
      const callee = model.nodeById.get(edge.target);
      const caller = model.nodeById.get(edge.source);
      const traced = callee?.kind === 'service' ? callee : caller?.kind === 'service' ? caller : null;
      showPanel({
        kind: 'edge',
        id: edge.id,
        query: { source: edge.source, target: edge.target },
        traceService: traced?.name ?? null,
        operationsOf: callee?.kind === 'service' ? { service: callee.id, title: `Operations of ${nodeTitle(callee)} (all callers)` } : null,
      });
    }
  }

  function showPanel(subject: PanelSubject): void {
    panel.show({ subject, window: shownWindow, signal: state.signal, frame });
  }

  // ---- timeline scrubber ---------------------------------------------------------------------------------
  function renderScrubber(): void {
    const replaying = state.replay !== undefined && frame !== null;
    scrubber.dataset.replaying = String(replaying);
    replayButton.hidden = replaying;
    replayControls.hidden = !replaying;
    if (!replaying || frame === null) return;
    const index = frames.indexOf(frame);
    frameSlider.max = String(frames.length - 1);
    frameSlider.value = String(index);
    frameSlider.setAttribute('aria-valuetext', `frame ${index + 1} of ${frames.length}`);
    previousFrame.disabled = index === 0;
    nextFrame.disabled = index === frames.length - 1;
    frameLengthSelect.value = String((frame.end + 1 - frame.start) / 1000);
    const time = (ms: number) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    frameLabel.textContent = `${time(frame.start)}–${time(frame.end + 1)} · frame ${index + 1} of ${frames.length}`;
    scrubber.dataset.frameIndex = String(index);
    scrubber.dataset.frameStart = String(frame.start);
    scrubber.dataset.frameEnd = String(frame.end);
    playButton.setAttribute('aria-pressed', String(playing));
    playButton.innerHTML = playing ? `${ICONS.pause} Pause` : `${ICONS.play} Play`;
  }

  function goToFrame(index: number): void {
    const target = frames[Math.max(0, Math.min(frames.length - 1, index))];
    if (target === undefined || state.replay === undefined) return;
    navigate({ replay: { ...state.replay, at: target.start } }, 'replace');
  }

  function setPlaying(on: boolean): void {
    playing = on;
    window.clearTimeout(playTimer);
    playTimer = undefined;
    renderScrubber();
    if (on) schedulePlay();
  }

  /** While playing, the next frame follows a while after this one is on screen; the last one stops play. */
  function schedulePlay(): void {
    window.clearTimeout(playTimer);
    if (!playing || frame === null) return;
    const index = frames.indexOf(frame);
    if (index >= frames.length - 1) {
      setPlaying(false);
      return;
    }
    playTimer = window.setTimeout(() => goToFrame(index + 1), 1200);
  }

  replayButton.addEventListener('click', () => {
    const window = state.time.kind === 'absolute' ? windowOf(state.time, Date.now()) : shownWindow.end > 0 ? shownWindow : windowOf(state.time, Date.now());
    const frameSeconds = frameSecondsFor(window);
    const first = replayFrames(window, frameSeconds)[0];
    if (first === undefined) return;
    // A replay needs a window that stays put: a relative range becomes the fixed window it showed last.
    navigate({ time: { kind: 'absolute', from: Math.floor(window.start), to: Math.ceil(window.end) }, live: false, replay: { at: first.start, frameSeconds } });
    playButton.focus();
  });
  playButton.addEventListener('click', () => {
    if (!playing && frame !== null && frames.indexOf(frame) === frames.length - 1) goToFrame(0);
    setPlaying(!playing);
  });
  previousFrame.addEventListener('click', () => {
    setPlaying(false);
    if (frame !== null) goToFrame(frames.indexOf(frame) - 1);
  });
  nextFrame.addEventListener('click', () => {
    setPlaying(false);
    if (frame !== null) goToFrame(frames.indexOf(frame) + 1);
  });
  frameSlider.addEventListener('input', () => {
    setPlaying(false);
    goToFrame(Number(frameSlider.value));
  });
  frameLengthSelect.addEventListener('change', () => {
    if (state.replay === undefined) return;
    setPlaying(false);
    navigate({ replay: { at: frame?.start ?? state.replay.at, frameSeconds: Number(frameLengthSelect.value) } }, 'replace');
  });
  exitReplay.addEventListener('click', () => {
    setPlaying(false);
    navigate({ replay: undefined });
  });

  function syncNamespaceOptions(): void {
    const wanted = ['', ...[...knownNamespaces].sort()];
    if (state.namespace && !knownNamespaces.has(state.namespace)) wanted.push(state.namespace);
    const have = [...namespaceSelect.options].map((o) => o.value);
    if (have.join('\u0000') !== wanted.join('\u0000')) namespaceSelect.replaceChildren(...wanted.map((ns) => option(ns, ns === '' ? 'all namespaces' : ns)));
    namespaceSelect.value = state.namespace;
  }

  // ---- controls → URL ------------------------------------------------------------------------------------
  liveButton.addEventListener('click', () => {
    if (state.time.kind === 'absolute') navigate({ time: { kind: 'relative', range: '15m' }, live: true });
    else navigate({ live: !state.live });
  });
  refreshSelect.addEventListener('change', () => navigate({ refreshSeconds: Number(refreshSelect.value), live: true }));
  rangeSelect.addEventListener('change', () => {
    if (rangeSelect.value === 'custom') {
      const window = windowOf(state.time, Date.now());
      fromInput.value = toLocalInput(window.start);
      toInput.value = toLocalInput(window.end);
      customGroup.hidden = false;
      fromInput.focus();
    } else navigate({ time: { kind: 'relative', range: rangeSelect.value as RangeName } });
  });
  applyCustom.addEventListener('click', () => {
    const from = new Date(fromInput.value).getTime();
    const to = new Date(toInput.value).getTime();
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
      status.textContent = 'Custom range: pick a start before the end.';
      return;
    }
    navigate({ time: { kind: 'absolute', from, to }, live: false, replay: undefined });
  });
  namespaceSelect.addEventListener('change', () => navigate({ namespace: namespaceSelect.value, focus: '' }));
  signalSelect.addEventListener('change', () => navigate({ signal: signalSelect.value as Signal }));
  searchInput.addEventListener('input', () => navigate({ search: searchInput.value }, 'replace'));
  searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') fit(true, true);
    if (event.key === 'Escape') navigate({ search: '' }, 'replace');
  });
  fitButton.addEventListener('click', () => fit(true));
  relayoutButton.addEventListener('click', () => {
    if (model === null) return;
    positions = layoutGraph(model, new Map(), { relayout: true });
    showModel();
    fit(true);
  });
  canvas.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') navigate({ selected: null, focus: '' });
  });
  const slashToSearch = (event: KeyboardEvent) => {
    const target = event.target as HTMLElement;
    if (event.key === '/' && !['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName)) {
      event.preventDefault();
      searchInput.focus();
    }
  };
  document.addEventListener('keydown', slashToSearch);

  // ---- state → controls ----------------------------------------------------------------------------------
  function applyState(next: ViewState): void {
    const previous = state;
    state = next;
    const key = JSON.stringify([next.time.kind === 'absolute' ? next.time : next.time.range, next.namespace, next.signal, next.replay ?? null]);
    if (next.replay === undefined && playing) setPlaying(false);
    liveButton.setAttribute('aria-pressed', String(next.live && next.time.kind === 'relative'));
    refreshSelect.value = String(next.refreshSeconds);
    refreshSelect.disabled = next.time.kind === 'absolute';
    rangeSelect.value = next.time.kind === 'absolute' ? 'custom' : next.time.range;
    customGroup.hidden = next.time.kind !== 'absolute';
    if (next.time.kind === 'absolute') {
      fromInput.value = toLocalInput(next.time.from);
      toInput.value = toLocalInput(next.time.to);
    }
    signalSelect.value = next.signal;
    if (searchInput.value !== next.search) searchInput.value = next.search;
    if (next.focus !== previous.focus || next.namespace !== previous.namespace || next.signal !== previous.signal) needsFit = true;
    if (key !== fetchKey) {
      fetchKey = key;
      void load();
    } else {
      showModel();
    }
    if (next.live !== previous.live || next.refreshSeconds !== previous.refreshSeconds || next.time !== previous.time || refreshTimer === undefined) scheduleRefresh();
  }

  applyState(initial);

  return {
    update: applyState,
    themeChanged: () => {
      renderer.setPalette(readPalette(document.documentElement));
      panel.redraw();
    },
    destroy: () => {
      loadController?.abort();
      window.clearTimeout(playTimer);
      panel.destroy();
      window.clearInterval(refreshTimer);
      resizeObserver.disconnect();
      renderer.stop();
      document.removeEventListener('keydown', slashToSearch);
      document.removeEventListener('visibilitychange', resume);
      tooltip.remove();
    },
  };
}

/** A list entry's button; its click selects whatever id the button carries when clicked. */
function listButton(onClick: (button: HTMLButtonElement) => void): HTMLButtonElement {
  const button = el('button', { type: 'button' });
  button.addEventListener('click', () => onClick(button));
  return button;
}

/** Writes an attribute only when its value changes (null removes it): a refresh that changes little writes little. */
function setAttribute(element: Element, name: string, value: string | null): void {
  if (value === null) {
    if (element.hasAttribute(name)) element.removeAttribute(name);
  } else if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

/** Sets an element's text, changing its one text node in place where it has one. */
function setText(element: Element, text: string): void {
  const node = element.firstChild;
  if (node !== null && node === element.lastChild && node.nodeType === Node.TEXT_NODE) {
    if ((node as Text).data !== text) (node as Text).data = text;
  } else element.textContent = text;
}

/**
 * A User Timing entry "graph: <step>" from `start` to now, after running `work` if given; returns now. The
 * UI benchmark's PerformanceObserver reads them to say where a refresh's time goes. Observers get an entry
 * when it is made, so it is cleared from the page's buffer at once (a wall display refreshing for days would
 * otherwise keep them all).
 */
function measure(step: string, start: number, work?: () => void): number {
  work?.();
  const end = performance.now();
  const name = `graph: ${step}`;
  performance.measure(name, { start, end });
  performance.clearMeasures(name);
  return end;
}

function isSelected(selected: Selection | null, kind: 'node' | 'edge', id: string): boolean {
  return selected !== null && selected.kind === kind && selected.id === id;
}

function definitionList(rows: Array<[string, string]>): HTMLDListElement {
  return el('dl', {}, ...rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
}

function nodeSummary(node: GraphNodeModel | undefined): { title: string; lines: string[] } | null {
  if (node === undefined) return null;
  return {
    title: nodeTitle(node),
    lines: [
      `${KIND_LABEL[node.kind]}${node.namespace ? ` in ${node.namespace}` : ''}`,
      ...(node.versionShare !== null ? [`${formatPercent(node.versionShare)} of ${node.serviceName} traffic`] : []),
      `${node.requests.toLocaleString()} requests`,
      `${formatPercent(node.errorRate)} errors`,
      `p95 ${formatMs(node.p95Ms)}`,
    ],
  };
}

function edgeSummary(edge: GraphEdgeModel | undefined, model: GraphModel): { title: string; lines: string[] } | null {
  if (edge === undefined) return null;
  const name = (id: string) => {
    const node = model.nodeById.get(id);
    return node ? nodeTitle(node) : id;
  };
  return {
    title: `${name(edge.source)} → ${name(edge.target)}`,
    lines: [`${formatRps(edge.rps)}`, `${formatPercent(edge.errorRate)} errors`, `p95 ${formatMs(edge.p95Ms)}`, MTLS_LABEL[edge.mtls], edge.protocols.join(', ')],
  };
}
