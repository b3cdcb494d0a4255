// Draws the traffic graph on one <canvas>.
//
// Why Canvas 2D for everything (edges, flow dots, nodes and labels) rather than SVG nodes over a canvas:
// at 500 nodes and 2,000 edges an SVG layer means ~1,500 DOM elements that the browser must restyle and
// re-composite on every pan/zoom frame, and two layers must be kept in sync; one canvas redrawn per frame,
// with strokes batched by colour and width, stays well inside a 33 ms frame. What SVG would have given for
// free is covered elsewhere: hit-testing in interaction.ts (quadtree + the same curves as geometry.ts), and
// screen readers / tests get an accessible list of every drawn node and edge (views/graph-view.ts).
import type { Point, Positions } from './layout.ts';
import { type EdgeCurve, type Health, NODE_RADIUS, edgeCurve, edgeLabel, edgeWidth, flowOf, healthOf, pointOnCurve, reversedPairs, tangentOnCurve, formatPercent } from './geometry.ts';
import type { GraphEdgeModel, GraphModel, GraphNodeModel, MtlsState } from './model.ts';

export interface Palette {
  background: string;
  text: string;
  muted: string;
  nodeFill: string;
  nodeStroke: string;
  namespaceFill: string;
  namespaceStroke: string;
  groupStroke: string;
  selection: string;
  highlight: string;
  health: Record<Health, string>;
  locked: string;
  plaintext: string;
  labelBackground: string;
}

/** Reads the palette from the CSS custom properties of theme.css, so the canvas follows the theme. */
export function readPalette(element: Element): Palette {
  const style = getComputedStyle(element);
  const v = (name: string) => style.getPropertyValue(name).trim();
  return {
    background: v('--graph-bg'),
    text: v('--text'),
    muted: v('--muted'),
    nodeFill: v('--node-fill'),
    nodeStroke: v('--node-stroke'),
    namespaceFill: v('--namespace-fill'),
    namespaceStroke: v('--namespace-stroke'),
    groupStroke: v('--group-stroke'),
    selection: v('--accent'),
    highlight: v('--highlight'),
    health: { ok: v('--health-ok'), warn: v('--health-warn'), error: v('--health-error'), idle: v('--health-idle') },
    locked: v('--mtls'),
    plaintext: v('--plaintext'),
    labelBackground: v('--label-bg'),
  };
}

export interface ZoomTransform {
  x: number;
  y: number;
  k: number;
}

export interface Scene {
  model: GraphModel;
  positions: Positions;
  selectedNode: string | null;
  selectedEdge: string | null;
  hoveredNode: string | null;
  hoveredEdge: string | null;
  /** Nodes matching the search; empty set = no search. */
  matches: ReadonlySet<string>;
}

/** Edges and their curves as last drawn, for hit-testing. */
export interface DrawnEdge {
  edge: GraphEdgeModel;
  curve: EdgeCurve;
}

const FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const SMALL_FONT = '10.5px system-ui, -apple-system, "Segoe UI", sans-serif';
/** Above this many edges, edge labels appear only when zoomed in or for what is selected or hovered. */
const ALWAYS_LABEL_EDGES = 60;

/** The moving dots of one colour and opacity: drawn as one path per frame. */
interface FlowBatch {
  colour: string;
  alpha: number;
  tracks: Array<{ curve: EdgeCurve; dots: number; speed: number; box: { minX: number; minY: number; maxX: number; maxY: number } }>;
}

export class GraphRenderer {
  private context: CanvasRenderingContext2D;
  /**
   * Everything but the moving dots is drawn into this offscreen layer, redrawn only when the scene, the
   * zoom, the size or the theme changes; an animation frame is then one image copy plus the dots.
   */
  private layer: HTMLCanvasElement;
  private layerContext: CanvasRenderingContext2D;
  private layerDirty = true;
  private flows: FlowBatch[] = [];
  private scene: Scene | null = null;
  /** The node positions the static layer was last drawn with. */
  private drawnPositions: Positions = new Map();
  private curves: DrawnEdge[] = [];
  private transform: ZoomTransform = { x: 0, y: 0, k: 1 };
  private frame = 0;
  private dirty = true;
  private startedAt = performance.now();
  /** Frames drawn; the UI benchmark reads it to measure frames per second. */
  framesDrawn = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private palette: Palette,
    /** With reduced motion the flow dots stand still (drawn once per change, not animated). */
    private animate: boolean,
  ) {
    const context = canvas.getContext('2d');
    this.layer = document.createElement('canvas');
    const layerContext = this.layer.getContext('2d');
    if (context === null || layerContext === null) throw new Error('this browser cannot draw on a canvas');
    this.context = context;
    this.layerContext = layerContext;
  }

  setScene(scene: Scene): void {
    const reverse = reversedPairs(scene.model.edges);
    this.curves = [];
    for (const edge of scene.model.edges) {
      const source = scene.positions.get(edge.source);
      const target = scene.positions.get(edge.target);
      if (source === undefined || target === undefined || edge.source === edge.target) continue;
      this.curves.push({ edge, curve: edgeCurve(source, target, reverse.has(edge.id)) });
    }
    const unchanged = this.scene !== null && looksTheSame(this.scene, this.drawnPositions, scene);
    this.scene = scene;
    // Positions are kept by reference from one refresh to the next (the view updates the same map), so the
    // ones drawn are copied for the comparison above.
    if (unchanged) return;
    this.drawnPositions = new Map(scene.model.nodes.map((node) => [node.id, { ...(scene.positions.get(node.id) ?? { x: NaN, y: NaN }) }]));
    this.invalidate();
  }

  drawnEdges(): readonly DrawnEdge[] {
    return this.curves;
  }

  setTransform(transform: ZoomTransform): void {
    // A refresh refits the view to the same bounds: the same transform needs no new layer.
    if (transform.x === this.transform.x && transform.y === this.transform.y && transform.k === this.transform.k) return;
    this.transform = transform;
    this.invalidate();
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.invalidate();
  }

  setAnimate(animate: boolean): void {
    this.animate = animate;
    this.invalidate();
  }

  invalidate(): void {
    this.dirty = true;
    this.layerDirty = true;
    if (this.frame === 0) this.frame = requestAnimationFrame(this.tick);
  }

  stop(): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  private tick = (now: number) => {
    this.frame = 0;
    const animating = this.animate && this.curves.length > 0 && document.visibilityState === 'visible';
    if (this.dirty || animating) this.draw((now - this.startedAt) / 1000);
    this.dirty = false;
    if (animating) this.frame = requestAnimationFrame(this.tick);
  };

  /** Sizes the backing store to the element's CSS size (from a ResizeObserver) times the device pixel ratio. */
  resize(cssWidth: number, cssHeight: number): void {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(cssWidth * ratio));
    const height = Math.max(1, Math.round(cssHeight * ratio));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.layer.width = width;
      this.layer.height = height;
    }
    this.invalidate();
  }

  private draw(seconds: number): void {
    const { context: ctx, canvas, transform } = this;
    const ratio = window.devicePixelRatio || 1;
    if (this.layerDirty) this.drawLayer(ratio);
    this.layerDirty = false;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
    this.framesDrawn++;
    ctx.setTransform(ratio * transform.k, 0, 0, ratio * transform.k, ratio * transform.x, ratio * transform.y);
    this.drawFlows(seconds, { minX: -transform.x / transform.k, minY: -transform.y / transform.k, maxX: (canvas.width / ratio - transform.x) / transform.k, maxY: (canvas.height / ratio - transform.y) / transform.k });
  }

  private drawLayer(ratio: number): void {
    const { layerContext: ctx, layer, palette, transform } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = palette.background;
    ctx.fillRect(0, 0, layer.width, layer.height);
    this.flows = [];
    const scene = this.scene;
    if (scene === null) return;
    ctx.setTransform(ratio * transform.k, 0, 0, ratio * transform.k, ratio * transform.x, ratio * transform.y);
    const emphasis = emphasisOf(scene);
    this.drawNamespaces(scene);
    this.drawServiceGroups(scene);
    this.drawEdges(scene, emphasis);
    this.drawNodes(scene, emphasis);
    this.drawEdgeLabels(scene, emphasis);
  }

  /** The moving dots, only on edges in view; with reduced motion they stand still at fixed places. */
  private drawFlows(seconds: number, view: { minX: number; minY: number; maxX: number; maxY: number }): void {
    const ctx = this.context;
    const radius = Math.max(1.6, Math.min(2.6, 2.6 / Math.sqrt(Math.max(this.transform.k, 0.01))));
    // Under ~3 screen pixels a square looks the same as a circle and costs far less to fill.
    const tiny = radius * this.transform.k < 1.5;
    for (const batch of this.flows) {
      ctx.globalAlpha = batch.alpha;
      ctx.fillStyle = batch.colour;
      ctx.beginPath();
      for (const track of batch.tracks) {
        const box = track.box;
        if (box.maxX < view.minX || box.minX > view.maxX || box.maxY < view.minY || box.minY > view.maxY) continue;
        const phase = this.animate ? seconds * track.speed : 0.25;
        for (let i = 0; i < track.dots; i++) {
          const point = pointOnCurve(track.curve, (phase + i / track.dots) % 1);
          if (tiny) {
            ctx.rect(point.x - radius, point.y - radius, radius * 2, radius * 2);
          } else {
            ctx.moveTo(point.x + radius, point.y);
            ctx.arc(point.x, point.y, radius, 0, Math.PI * 2);
          }
        }
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  private drawNamespaces(scene: Scene): void {
    const ctx = this.layerContext;
    for (const group of scene.model.namespaces) {
      if (group.namespace === '') continue;
      const box = boxAround(group.nodeIds.map((id) => scene.positions.get(id)), NODE_RADIUS + 34);
      if (box === null) continue;
      ctx.beginPath();
      ctx.roundRect(box.x, box.y - 14, box.width, box.height + 14, 16);
      ctx.fillStyle = this.palette.namespaceFill;
      ctx.fill();
      ctx.lineWidth = 1 / Math.max(this.transform.k, 0.5);
      ctx.strokeStyle = this.palette.namespaceStroke;
      ctx.stroke();
      ctx.font = `600 ${FONT}`;
      ctx.fillStyle = this.palette.muted;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'top';
      ctx.fillText(`namespace ${group.namespace}`, box.x + 12, box.y - 6);
    }
  }

  private drawServiceGroups(scene: Scene): void {
    const ctx = this.layerContext;
    for (const group of scene.model.serviceGroups) {
      const box = boxAround(group.nodeIds.map((id) => scene.positions.get(id)), NODE_RADIUS + 16);
      if (box === null) continue;
      ctx.beginPath();
      ctx.roundRect(box.x, box.y - 8, box.width, box.height + 26, 12);
      ctx.setLineDash([5, 4]);
      ctx.lineWidth = 1.2;
      ctx.strokeStyle = this.palette.groupStroke;
      ctx.stroke();
      ctx.setLineDash([]);
      // The group's name under the box: above it sits the column's other services.
      ctx.font = `600 ${SMALL_FONT}`;
      ctx.fillStyle = this.palette.groupStroke;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      ctx.fillText(`${group.name} · ${group.nodeIds.length} versions`, box.x + box.width / 2, box.y + box.height + 22);
    }
  }

  private drawEdges(scene: Scene, emphasis: Emphasis): void {
    const ctx = this.layerContext;
    // Batch strokes by colour, width step and emphasis: a few dozen strokes instead of thousands.
    const batches = new Map<string, { colour: string; width: number; alpha: number; curves: EdgeCurve[] }>();
    const flows = new Map<string, FlowBatch>();
    for (const { edge, curve } of this.curves) {
      const health = healthOf(edge.errorRate, edge.requests);
      const colour = this.palette.health[health];
      const width = Math.round(edgeWidth(edge.rps) * 2) / 2;
      const faded = emphasis.active && !emphasis.edges.has(edge.id);
      const alpha = faded ? 0.12 : 1;
      const key = `${health}|${width}|${alpha}`;
      const batch = batches.get(key) ?? { colour, width, alpha, curves: [] };
      batch.curves.push(curve);
      batches.set(key, batch);

      const flow = flowOf(edge.rps);
      if (flow.dots > 0) {
        const flowKey = `${health}|${alpha}`;
        const flowBatch = flows.get(flowKey) ?? { colour, alpha, tracks: [] };
        const box = {
          minX: Math.min(curve.from.x, curve.control.x, curve.to.x),
          minY: Math.min(curve.from.y, curve.control.y, curve.to.y),
          maxX: Math.max(curve.from.x, curve.control.x, curve.to.x),
          maxY: Math.max(curve.from.y, curve.control.y, curve.to.y),
        };
        flowBatch.tracks.push({ curve, dots: flow.dots, speed: flow.speed, box });
        flows.set(flowKey, flowBatch);
      }
    }
    this.flows = [...flows.values()];
    ctx.lineCap = 'round';
    for (const batch of batches.values()) {
      ctx.globalAlpha = batch.alpha * 0.75;
      ctx.strokeStyle = batch.colour;
      ctx.fillStyle = batch.colour;
      ctx.lineWidth = batch.width;
      ctx.beginPath();
      for (const curve of batch.curves) {
        ctx.moveTo(curve.from.x, curve.from.y);
        ctx.quadraticCurveTo(curve.control.x, curve.control.y, curve.to.x, curve.to.y);
      }
      ctx.stroke();
      // Arrowheads, sized with the line.
      ctx.globalAlpha = batch.alpha;
      ctx.beginPath();
      const size = 5 + batch.width * 1.1;
      for (const curve of batch.curves) {
        const direction = tangentOnCurve(curve, 1);
        const tip = curve.to;
        ctx.moveTo(tip.x, tip.y);
        ctx.lineTo(tip.x - direction.x * size - direction.y * size * 0.55, tip.y - direction.y * size + direction.x * size * 0.55);
        ctx.lineTo(tip.x - direction.x * size + direction.y * size * 0.55, tip.y - direction.y * size - direction.x * size * 0.55);
        ctx.closePath();
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    // Selected / hovered edge: a halo under nothing else, drawn on top for clarity.
    for (const { edge, curve } of this.curves) {
      if (edge.id !== scene.selectedEdge && edge.id !== scene.hoveredEdge) continue;
      ctx.beginPath();
      ctx.moveTo(curve.from.x, curve.from.y);
      ctx.quadraticCurveTo(curve.control.x, curve.control.y, curve.to.x, curve.to.y);
      ctx.strokeStyle = this.palette.selection;
      ctx.globalAlpha = edge.id === scene.selectedEdge ? 0.9 : 0.5;
      ctx.lineWidth = edgeWidth(edge.rps) + 4;
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
  }

  private drawNodes(scene: Scene, emphasis: Emphasis): void {
    const ctx = this.layerContext;
    const showLabels = this.transform.k >= 0.45 || scene.model.nodes.length <= 40;
    for (const node of scene.model.nodes) {
      const at = scene.positions.get(node.id);
      if (at === undefined) continue;
      const faded = (emphasis.active && !emphasis.nodes.has(node.id)) || (scene.matches.size > 0 && !scene.matches.has(node.id));
      ctx.globalAlpha = faded ? 0.25 : 1;
      const health = healthOf(node.errorRate, node.requests);
      drawNodeShape(ctx, node, at, this.palette, health);
      if (scene.matches.has(node.id) || node.id === scene.selectedNode || node.id === scene.hoveredNode) {
        ctx.beginPath();
        ctx.arc(at.x, at.y, NODE_RADIUS + 6, 0, Math.PI * 2);
        ctx.lineWidth = node.id === scene.selectedNode ? 3 : 2;
        ctx.strokeStyle = node.id === scene.selectedNode ? this.palette.selection : this.palette.highlight;
        ctx.stroke();
      }
      if (showLabels || node.id === scene.selectedNode || node.id === scene.hoveredNode) {
        ctx.font = FONT;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'top';
        const title = node.version !== null ? node.serviceName : node.name;
        strokeHalo(ctx, this.palette.background, title, at.x, at.y + NODE_RADIUS + 4);
        ctx.fillStyle = this.palette.text;
        ctx.fillText(title, at.x, at.y + NODE_RADIUS + 4);
        const detail = node.version === null ? null : node.versionShare === null ? node.version : `${node.version} · ${formatPercent(node.versionShare)}`;
        if (detail !== null) {
          ctx.font = `600 ${SMALL_FONT}`;
          ctx.fillStyle = this.palette.muted;
          ctx.fillText(detail, at.x, at.y + NODE_RADIUS + 18);
        }
      }
    }
    ctx.globalAlpha = 1;
  }

  private drawEdgeLabels(scene: Scene, emphasis: Emphasis): void {
    const ctx = this.layerContext;
    const all = this.curves.length <= ALWAYS_LABEL_EDGES || this.transform.k >= 1.4;
    ctx.font = SMALL_FONT;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (const { edge, curve } of this.curves) {
      const wanted = edge.id === scene.selectedEdge || edge.id === scene.hoveredEdge || (emphasis.active ? emphasis.edges.has(edge.id) && (all || emphasis.strong) : all);
      if (!wanted) continue;
      const middle = pointOnCurve(curve, 0.5);
      const text = edgeLabel(edge);
      const width = ctx.measureText(text).width + 8;
      const lockRoom = edge.mtls === 'unknown' ? 0 : 14;
      ctx.globalAlpha = 0.88;
      ctx.fillStyle = this.palette.labelBackground;
      ctx.beginPath();
      ctx.roundRect(middle.x - (width + lockRoom) / 2, middle.y - 8, width + lockRoom, 16, 4);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.fillStyle = this.palette.text;
      ctx.fillText(text, middle.x + lockRoom / 2, middle.y + 0.5);
      if (lockRoom > 0) drawLock(ctx, edge.mtls, { x: middle.x - (width + lockRoom) / 2 + 8, y: middle.y }, this.palette);
    }
    // Where labels are hidden the lock marks still show: they are the security picture.
    if (!all) {
      for (const { edge, curve } of this.curves) {
        if (edge.mtls === 'unknown' || (emphasis.active && !emphasis.edges.has(edge.id))) continue;
        drawLock(ctx, edge.mtls, pointOnCurve(curve, 0.5), this.palette);
      }
    }
  }
}

/**
 * Whether `next` draws exactly what `previous` drew (a live refresh whose answer did not change): then the
 * static layer, whose software rasterising costs more than the rest of a refresh together with 2,000 edges,
 * is kept. Compares everything the layer and the flow dots are drawn from.
 */
function looksTheSame(previous: Scene, drawnPositions: Positions, next: Scene): boolean {
  if (previous.selectedNode !== next.selectedNode || previous.selectedEdge !== next.selectedEdge || previous.hoveredNode !== next.hoveredNode || previous.hoveredEdge !== next.hoveredEdge) return false;
  if (previous.matches.size !== next.matches.size || [...next.matches].some((id) => !previous.matches.has(id))) return false;
  const [a, b] = [previous.model, next.model];
  if (a.nodes.length !== b.nodes.length || a.edges.length !== b.edges.length || a.namespaces.length !== b.namespaces.length || a.serviceGroups.length !== b.serviceGroups.length) return false;
  for (let i = 0; i < b.nodes.length; i++) {
    const [was, now] = [a.nodes[i]!, b.nodes[i]!];
    const [at, drawn] = [next.positions.get(now.id), drawnPositions.get(now.id)];
    if (was.id !== now.id || at === undefined || drawn === undefined || at.x !== drawn.x || at.y !== drawn.y) return false;
    if (was.kind !== now.kind || was.name !== now.name || was.serviceName !== now.serviceName || was.version !== now.version || was.namespace !== now.namespace) return false;
    if (was.requests !== now.requests || was.errorRate !== now.errorRate || was.versionShare !== now.versionShare) return false;
  }
  for (let i = 0; i < b.edges.length; i++) {
    const [was, now] = [a.edges[i]!, b.edges[i]!];
    if (was.id !== now.id || was.rps !== now.rps || was.requests !== now.requests || was.errorRate !== now.errorRate || was.p95Ms !== now.p95Ms || was.mtls !== now.mtls) return false;
  }
  for (let i = 0; i < b.serviceGroups.length; i++) if (a.serviceGroups[i]!.key !== b.serviceGroups[i]!.key || a.serviceGroups[i]!.nodeIds.join() !== b.serviceGroups[i]!.nodeIds.join()) return false;
  for (let i = 0; i < b.namespaces.length; i++) if (a.namespaces[i]!.namespace !== b.namespaces[i]!.namespace || a.namespaces[i]!.nodeIds.length !== b.namespaces[i]!.nodeIds.length) return false;
  return true;
}

/** What selection or hover singles out: that node with its edges and neighbours, or that edge with its ends. */
interface Emphasis {
  active: boolean;
  /** A selection (rather than a hover) shows the labels of its edges even in a big graph. */
  strong: boolean;
  nodes: Set<string>;
  edges: Set<string>;
}

function emphasisOf(scene: Scene): Emphasis {
  const node = scene.hoveredNode ?? scene.selectedNode;
  const edge = scene.hoveredEdge ?? scene.selectedEdge;
  const result: Emphasis = { active: false, strong: scene.selectedNode !== null || scene.selectedEdge !== null, nodes: new Set(), edges: new Set() };
  if (node !== null) {
    result.active = true;
    result.nodes.add(node);
    for (const e of scene.model.edges) {
      if (e.source === node || e.target === node) {
        result.edges.add(e.id);
        result.nodes.add(e.source);
        result.nodes.add(e.target);
      }
    }
  } else if (edge !== null) {
    const found = scene.model.edges.find((e) => e.id === edge);
    if (found) {
      result.active = true;
      result.edges.add(found.id);
      result.nodes.add(found.source);
      result.nodes.add(found.target);
    }
  }
  return result;
}

function boxAround(points: ReadonlyArray<Point | undefined>, padding: number): { x: number; y: number; width: number; height: number } | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const p of points) {
    if (p === undefined) continue;
    minX = Math.min(minX, p.x);
    minY = Math.min(minY, p.y);
    maxX = Math.max(maxX, p.x);
    maxY = Math.max(maxY, p.y);
  }
  if (minX === Infinity) return null;
  return { x: minX - padding, y: minY - padding, width: maxX - minX + 2 * padding, height: maxY - minY + 2 * padding };
}

/** A background-coloured outline under a label keeps it readable over edges. */
function strokeHalo(ctx: CanvasRenderingContext2D, colour: string, text: string, x: number, y: number): void {
  ctx.lineWidth = 3;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = colour;
  ctx.strokeText(text, x, y);
}

/**
 * Node shapes: a service is a circle; a virtual node (seen only as a peer) a dashed circle; an unknown
 * caller a diamond with '?'; a database a cylinder; a messaging broker a rounded box with queue bars.
 */
function drawNodeShape(ctx: CanvasRenderingContext2D, node: GraphNodeModel, at: Point, palette: Palette, health: Health): void {
  const r = NODE_RADIUS;
  ctx.fillStyle = palette.nodeFill;
  ctx.strokeStyle = health === 'idle' || health === 'ok' ? palette.nodeStroke : palette.health[health];
  ctx.lineWidth = health === 'idle' || health === 'ok' ? 2 : 3;
  ctx.beginPath();
  switch (node.kind) {
    case 'service':
      ctx.arc(at.x, at.y, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.stroke();
      // The inner ring shows the node's own health at a glance.
      ctx.beginPath();
      ctx.arc(at.x, at.y, r * 0.42, 0, Math.PI * 2);
      ctx.fillStyle = palette.health[health];
      ctx.fill();
      break;
    case 'virtual':
      ctx.arc(at.x, at.y, r, 0, Math.PI * 2);
      ctx.fill();
      ctx.setLineDash([4, 3]);
      ctx.stroke();
      ctx.setLineDash([]);
      break;
    case 'unknown':
      ctx.moveTo(at.x, at.y - r * 1.15);
      ctx.lineTo(at.x + r * 1.15, at.y);
      ctx.lineTo(at.x, at.y + r * 1.15);
      ctx.lineTo(at.x - r * 1.15, at.y);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
      ctx.font = `700 ${FONT}`;
      ctx.fillStyle = palette.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText('?', at.x, at.y + 1);
      break;
    case 'database': {
      const w = r * 0.95;
      const h = r * 1.1;
      const e = r * 0.32;
      ctx.moveTo(at.x - w, at.y - h + e);
      ctx.lineTo(at.x - w, at.y + h - e);
      ctx.ellipse(at.x, at.y + h - e, w, e, 0, Math.PI, 0, true);
      ctx.lineTo(at.x + w, at.y - h + e);
      ctx.ellipse(at.x, at.y - h + e, w, e, 0, 0, Math.PI, true);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
      ctx.beginPath();
      ctx.ellipse(at.x, at.y - h + e, w, e, 0, 0, Math.PI);
      ctx.stroke();
      break;
    }
    case 'messaging': {
      ctx.roundRect(at.x - r * 1.1, at.y - r * 0.8, r * 2.2, r * 1.6, 5);
      ctx.fill();
      ctx.stroke();
      ctx.beginPath();
      for (let i = -1; i <= 1; i++) {
        ctx.moveTo(at.x - r * 0.6 + i * r * 0.5 + r * 0.6, at.y - r * 0.4);
        ctx.lineTo(at.x - r * 0.6 + i * r * 0.5 + r * 0.6, at.y + r * 0.4);
      }
      ctx.lineWidth = 2;
      ctx.strokeStyle = palette.muted;
      ctx.stroke();
      break;
    }
  }
}

/** A closed padlock (mTLS), an open one (plaintext), or a closed one in the warning colour (mixed). */
function drawLock(ctx: CanvasRenderingContext2D, state: MtlsState, at: Point, palette: Palette): void {
  if (state === 'unknown') return;
  const colour = state === 'all' ? palette.locked : palette.plaintext;
  ctx.save();
  ctx.translate(at.x, at.y);
  ctx.fillStyle = palette.labelBackground;
  ctx.beginPath();
  ctx.arc(0, 0, 7.5, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = colour;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.6;
  ctx.fillRect(-4, -1, 8, 6);
  ctx.beginPath();
  if (state === 'none') {
    // Open shackle: swung up and to the side.
    ctx.arc(-2.5 + 5, -2, 2.6, Math.PI, Math.PI * 1.9);
  } else {
    ctx.arc(0, -1.5, 2.6, Math.PI, 0);
    ctx.lineTo(2.6, -1);
    ctx.moveTo(-2.6, -1.5);
    ctx.lineTo(-2.6, -1);
  }
  ctx.stroke();
  if (state === 'mixed') {
    ctx.fillStyle = palette.labelBackground;
    ctx.fillRect(0, 0, 3, 4);
  }
  ctx.restore();
}
