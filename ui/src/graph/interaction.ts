// Pan/zoom (d3-zoom), picking what is under the pointer (a d3-quadtree of node positions, then the edge
// curves as drawn), hover tooltips, click to select, double-click to focus, and keyboard pan/zoom.
import { quadtree, type Quadtree } from 'd3-quadtree';
import { select } from 'd3-selection';
// Adds selection.transition(), used for the animated zoom-to-fit.
import 'd3-transition';
import { type ZoomBehavior, type ZoomTransform, zoom, zoomIdentity } from 'd3-zoom';
import { NODE_RADIUS, distanceToCurve } from './geometry.ts';
import { type Point, type Positions, boundsOf } from './layout.ts';
import type { DrawnEdge } from './render.ts';

export type Hit = { kind: 'node'; id: string } | { kind: 'edge'; id: string } | null;

export interface InteractionHandlers {
  /** `byUser`: a pan or zoom by mouse, wheel, touch or keys, not a programmatic fit. */
  onTransform(transform: ZoomTransform, byUser: boolean): void;
  onHover(hit: Hit, clientX: number, clientY: number): void;
  onClick(hit: Hit): void;
  onDoubleClick(hit: Hit): void;
  /** The user asked to fit the graph to the window (key 0). */
  onFitRequest(): void;
}

interface Placed extends Point {
  id: string;
}

/** What lies at layout point p: a node within its radius first, else the nearest edge within a few pixels. */
export function pick(nodes: Quadtree<Placed>, edges: readonly DrawnEdge[], p: Point, scale: number): Hit {
  const node = nodes.find(p.x, p.y, NODE_RADIUS + 4);
  if (node !== undefined) return { kind: 'node', id: node.id };
  const tolerance = 6 / scale;
  let best: DrawnEdge | null = null;
  let bestDistance = tolerance;
  for (const drawn of edges) {
    const { from, control, to } = drawn.curve;
    // Cheap reject by the curve's bounding box before measuring.
    if (p.x < Math.min(from.x, control.x, to.x) - tolerance || p.x > Math.max(from.x, control.x, to.x) + tolerance) continue;
    if (p.y < Math.min(from.y, control.y, to.y) - tolerance || p.y > Math.max(from.y, control.y, to.y) + tolerance) continue;
    const distance = distanceToCurve(drawn.curve, p);
    if (distance <= bestDistance) {
      best = drawn;
      bestDistance = distance;
    }
  }
  return best === null ? null : { kind: 'edge', id: best.edge.id };
}

export class GraphInteraction {
  private readonly zoomBehavior: ZoomBehavior<HTMLCanvasElement, unknown>;
  private nodes: Quadtree<Placed> = quadtree<Placed>().x((d) => d.x).y((d) => d.y);
  private edges: readonly DrawnEdge[] = [];
  private transform: ZoomTransform = zoomIdentity;
  /**
   * The canvas' CSS size, as the view's ResizeObserver last reported it (setSize). d3-zoom's default extent
   * reads clientWidth/clientHeight at every gesture, a programmatic fit included: after a refresh has
   * written to the DOM, that read forces a synchronous style and layout of the whole page.
   */
  private size = { width: 0, height: 0 };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    handlers: InteractionHandlers,
  ) {
    this.zoomBehavior = zoom<HTMLCanvasElement, unknown>()
      .scaleExtent([0.05, 8])
      .extent(() => [
        [0, 0],
        [this.size.width, this.size.height],
      ])
      .clickDistance(4)
      .on('zoom', (event: { transform: ZoomTransform; sourceEvent: Event | null }) => {
        this.transform = event.transform;
        handlers.onTransform(event.transform, event.sourceEvent !== null || this.keyboardMove);
      });
    const selection = select(canvas);
    selection.call(this.zoomBehavior).on('dblclick.zoom', null);
    const at = (event: MouseEvent): Point => {
      const box = canvas.getBoundingClientRect();
      const [x, y] = this.transform.invert([event.clientX - box.left, event.clientY - box.top]);
      return { x, y };
    };
    canvas.addEventListener('pointermove', (event) => handlers.onHover(pick(this.nodes, this.edges, at(event), this.transform.k), event.clientX, event.clientY));
    canvas.addEventListener('pointerleave', (event) => handlers.onHover(null, event.clientX, event.clientY));
    canvas.addEventListener('click', (event) => handlers.onClick(pick(this.nodes, this.edges, at(event), this.transform.k)));
    canvas.addEventListener('dblclick', (event) => handlers.onDoubleClick(pick(this.nodes, this.edges, at(event), this.transform.k)));
    // Keyboard: arrows pan, + and - zoom, 0 fits the graph (the canvas is focusable).
    canvas.addEventListener('keydown', (event) => {
      const step = 60;
      const moves: Record<string, [number, number]> = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      const move = moves[event.key];
      this.keyboardMove = true;
      try {
        if (move) this.zoomBehavior.translateBy(select(canvas), move[0] / this.transform.k, move[1] / this.transform.k);
        else if (event.key === '+' || event.key === '=') this.zoomBehavior.scaleBy(select(canvas), 1.25);
        else if (event.key === '-') this.zoomBehavior.scaleBy(select(canvas), 0.8);
        else if (event.key === '0') handlers.onFitRequest();
        else return;
      } finally {
        this.keyboardMove = false;
      }
      event.preventDefault();
    });
  }

  private keyboardMove = false;

  /** New positions and curves to pick from. */
  update(positions: Positions, edges: readonly DrawnEdge[]): void {
    this.nodes = quadtree<Placed>()
      .x((d) => d.x)
      .y((d) => d.y)
      .addAll([...positions].map(([id, p]) => ({ id, x: p.x, y: p.y })));
    this.edges = edges;
  }

  /** The canvas' CSS size (from a ResizeObserver): what fit() and the zoom gestures work with. */
  setSize(width: number, height: number): void {
    this.size = { width, height };
  }

  /** Zooms so that all `points` fit the canvas, with a margin; never zooms in past 1.1× (labels stay small). */
  fit(points: Iterable<Point>, animate = false): void {
    const box = boundsOf(points);
    if (box === null) return;
    const { width, height } = this.size;
    const margin = 90;
    const k = Math.min(1.1, (width - margin * 2) / Math.max(1, box.maxX - box.minX), (height - margin * 2) / Math.max(1, box.maxY - box.minY));
    const scale = Math.max(0.05, k);
    const target = zoomIdentity.translate(width / 2 - scale * ((box.minX + box.maxX) / 2), height / 2 - scale * ((box.minY + box.maxY) / 2)).scale(scale);
    const canvas = select(this.canvas);
    if (animate && !matchMedia('(prefers-reduced-motion: reduce)').matches) canvas.transition().duration(450).call(this.zoomBehavior.transform, target);
    else canvas.call(this.zoomBehavior.transform, target);
  }

  current(): ZoomTransform {
    return this.transform;
  }
}
