// A stable, deterministic layout. Nodes placed by an earlier layout keep their position (keyed by node id),
// so a refresh never makes the picture jump; new nodes start next to the neighbours they already have and
// a force simulation settles only them. The random source is seeded, so the same input gives the same
// picture (and tests can compare positions). Coordinates are abstract: the renderer fits them to the screen.
import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force';
import type { GraphModel } from './model.ts';

export interface Point {
  x: number;
  y: number;
}

export type Positions = Map<string, Point>;

interface LayoutNode extends SimulationNodeDatum {
  id: string;
  namespace: string;
  pinned: boolean;
}

/**
 * Traffic flows left to right: a node's column is its depth in the call graph (callers before callees, as
 * in Kiali's default layout), and each namespace gets a horizontal band. Columns are wide enough for the
 * edge labels between them.
 */
export const COLUMN_GAP = 240;
const ROW_GAP = 96;
const NODE_RADIUS = 26;
/** Deeper chains share the last column rather than stretch the picture without end. */
const MAX_COLUMN = 14;
/** A column holding more nodes than this (in all namespaces), or a chain reaching MAX_COLUMN, switches to the clustered layout. */
const LAYERED_MAX_COLUMN = 30;

/** A small deterministic generator (LCG) so d3-force's jiggle is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** A stable small number from a string (FNV-1a), for deterministic offsets. */
export function hashString(text: string): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/**
 * Each node's column: the longest path to it from a node nobody calls, over the graph without the edges
 * that close a cycle (found by a depth-first walk in id order, so the answer is deterministic).
 */
export function columnsOf(model: GraphModel): Map<string, number> {
  const ids = model.nodes.map((node) => node.id).sort();
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  const indegree = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const edge of model.edges) {
    if (edge.source === edge.target || !out.has(edge.source) || !out.has(edge.target)) continue;
    out.get(edge.source)!.push(edge.target);
    indegree.set(edge.target, indegree.get(edge.target)! + 1);
  }
  for (const targets of out.values()) targets.sort();
  // Depth-first from the roots (then from anything left, for pure cycles), keeping only forward edges.
  const state = new Map<string, 'active' | 'done'>();
  const forward = new Map<string, string[]>(ids.map((id) => [id, []]));
  const visit = (start: string) => {
    const stack: Array<{ id: string; next: number }> = [{ id: start, next: 0 }];
    state.set(start, 'active');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const targets = out.get(top.id)!;
      if (top.next >= targets.length) {
        state.set(top.id, 'done');
        stack.pop();
        continue;
      }
      const target = targets[top.next++]!;
      const seen = state.get(target);
      if (seen === 'active') continue; // closes a cycle: not used for depth
      forward.get(top.id)!.push(target);
      if (seen === undefined) {
        state.set(target, 'active');
        stack.push({ id: target, next: 0 });
      }
    }
  };
  for (const id of ids) if (indegree.get(id) === 0 && !state.has(id)) visit(id);
  for (const id of ids) if (!state.has(id)) visit(id);
  // Longest path over the forward edges, in topological order (Kahn).
  const remaining = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const targets of forward.values()) for (const target of targets) remaining.set(target, remaining.get(target)! + 1);
  const column = new Map<string, number>(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => remaining.get(id) === 0);
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head]!;
    for (const target of forward.get(id)!) {
      column.set(target, Math.min(MAX_COLUMN, Math.max(column.get(target)!, column.get(id)! + 1)));
      remaining.set(target, remaining.get(target)! - 1);
      if (remaining.get(target) === 0) queue.push(target);
    }
  }
  return column;
}

/**
 * Positions for every node of `model`. Nodes found in `previous` stay exactly where they were unless
 * `relayout` is set; the others are simulated around them.
 */
export function layoutGraph(model: GraphModel, previous: ReadonlyMap<string, Point> = new Map(), options: { relayout?: boolean; iterations?: number } = {}): Positions {
  const relayout = options.relayout ?? false;
  const known = relayout ? new Map<string, Point>() : previous;
  // A refresh with no new node (the usual live refresh): every node stays where it was, nothing to compute.
  if (model.nodes.every((node) => known.has(node.id))) return new Map(model.nodes.map((node) => [node.id, { ...known.get(node.id)! }]));
  const columns = columnsOf(model);
  const perColumn = new Map<number, number>();
  for (const column of columns.values()) perColumn.set(column, (perColumn.get(column) ?? 0) + 1);
  // Columns read well while they are short; a big mesh piles hundreds of nodes into a few columns, and one
  // full of long cycles has no meaningful depth, so those are clustered by namespace instead.
  const layered = Math.max(0, ...perColumn.values()) <= LAYERED_MAX_COLUMN && !perColumn.has(MAX_COLUMN);
  const anchors = layered ? namespaceBands(model, columns, known) : namespaceClusters(model, known);
  const nodes: LayoutNode[] = model.nodes.map((node) => {
    const at = known.get(node.id);
    return at ? { id: node.id, namespace: node.namespace, pinned: true, x: at.x, y: at.y, fx: at.x, fy: at.y } : { id: node.id, namespace: node.namespace, pinned: false };
  });
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const links: Array<SimulationLinkDatum<LayoutNode> & { strength: number; distance: number }> = model.edges
    .filter((edge) => edge.source !== edge.target && byId.has(edge.source) && byId.has(edge.target))
    .map((edge) => ({ source: edge.source, target: edge.target, strength: layered ? 0.25 : 0.04, distance: layered ? COLUMN_GAP : 90 }));
  // The versions of one service stay stacked together.
  for (const group of model.serviceGroups) {
    for (let i = 1; i < group.nodeIds.length; i++) links.push({ source: group.nodeIds[i - 1]!, target: group.nodeIds[i]!, strength: 0.8, distance: layered ? ROW_GAP : NODE_RADIUS * 2.5 });
  }

  placeNewNodes(model, nodes, links, byId, layered ? columns : null, anchors);
  const free = nodes.filter((node) => !node.pinned);
  if (free.length === 0) return positionsOf(nodes);
  const charge = { strength: layered ? -260 : -110, reach: layered ? 600 : 350 };
  // Only the new nodes move, so only they are simulated; the pinned ones act on them through pinnedForce
  // (a refresh that adds one node to a 500-node graph then costs a small part of a full simulation).
  const simulated = free.length === nodes.length ? nodes : free;
  const freeIds = new Set(free.map((node) => node.id));
  const simulatedLinks = simulated === nodes ? links : links.filter((link) => freeIds.has(link.source as string) && freeIds.has(link.target as string));

  const anchorOf = (node: LayoutNode) => anchors.get(node.namespace) ?? { x: 0, y: 0 };
  const random = seededRandom(hashString(model.nodes.map((node) => node.id).join('|')));
  const simulation = forceSimulation(simulated)
    .randomSource(random)
    .force('link', forceLink<LayoutNode, SimulationLinkDatum<LayoutNode> & { strength: number; distance: number }>(simulatedLinks).id((node) => node.id).distance((link) => link.distance).strength((link) => link.strength))
    .force('charge', forceManyBody<LayoutNode>().strength(charge.strength).distanceMax(charge.reach))
    .force('pinned', simulated === nodes ? null : pinnedForce(free, nodes, links, byId, charge, random))
    .force('collide', forceCollide<LayoutNode>(COLLIDE_RADIUS))
    .force('x', layered ? forceX<LayoutNode>((node) => (columns.get(node.id) ?? 0) * COLUMN_GAP).strength(0.5) : forceX<LayoutNode>((node) => anchorOf(node).x).strength((node) => (node.namespace === '' ? 0 : 0.3)))
    .force('y', forceY<LayoutNode>((node) => anchorOf(node).y).strength((node) => (node.namespace === '' ? 0 : layered ? 0.04 : 0.3)))
    .stop();
  // A refresh that adds a few nodes to a settled picture needs a gentle, short settle. Big graphs get fewer
  // ticks (cooling faster) so 500 nodes lay out in well under a second.
  if (free.length < nodes.length) simulation.alpha(0.5);
  const iterations = options.iterations ?? Math.round(Math.min(300, Math.max(60, 30_000 / nodes.length)));
  simulation.alphaDecay(1 - Math.pow(simulation.alphaMin() / simulation.alpha(), 1 / iterations));
  for (let i = 0; i < iterations; i++) simulation.tick();
  return positionsOf(nodes);
}

const COLLIDE_RADIUS = NODE_RADIUS * 1.7;
/** How far a new node may drift while it settles: pinned nodes farther than this plus the charge's reach are not looked at. */
const NEW_NODE_ROAM = 400;

/**
 * What the pinned nodes do to the new (simulated) ones: the same repulsion, collision and link pull as
 * d3-force's forceManyBody (exact here, no Barnes–Hut), forceCollide and forceLink would apply, with the
 * pinned end's share of each correction dropped (it never moves). Only pinned nodes near a new node at
 * the start, or linked to one, are looked at.
 */
function pinnedForce(free: readonly LayoutNode[], nodes: readonly LayoutNode[], links: ReadonlyArray<SimulationLinkDatum<LayoutNode> & { strength: number; distance: number }>, byId: ReadonlyMap<string, LayoutNode>, charge: { strength: number; reach: number }, random: () => number): (alpha: number) => void {
  const jiggle = () => (random() - 0.5) * 1e-6;
  const reach = charge.reach + NEW_NODE_ROAM;
  const near = nodes.filter((node) => node.pinned && free.some((other) => (other.x! - node.x!) ** 2 + (other.y! - node.y!) ** 2 <= reach * reach));
  // forceLink splits a link's correction by the ends' degrees (bias); the new node keeps its share.
  const degree = new Map<string, number>();
  for (const link of links) for (const end of [link.source as string, link.target as string]) degree.set(end, (degree.get(end) ?? 0) + 1);
  const pulls: Array<{ node: LayoutNode; pinned: LayoutNode; share: number; distance: number; strength: number }> = [];
  for (const link of links) {
    const [source, target] = [byId.get(link.source as string)!, byId.get(link.target as string)!];
    if (source.pinned === target.pinned) continue;
    const sourceShare = degree.get(target.id)! / (degree.get(source.id)! + degree.get(target.id)!);
    pulls.push(source.pinned ? { node: target, pinned: source, share: 1 - sourceShare, distance: link.distance, strength: link.strength } : { node: source, pinned: target, share: sourceShare, distance: link.distance, strength: link.strength });
  }
  return (alpha: number) => {
    for (const { node, pinned, share, distance, strength } of pulls) {
      const x = pinned.x! - node.x! - node.vx! || jiggle();
      const y = pinned.y! - node.y! - node.vy! || jiggle();
      const length = Math.sqrt(x * x + y * y);
      const k = ((length - distance) / length) * alpha * strength * share;
      node.vx! += x * k;
      node.vy! += y * k;
    }
    for (const node of free) {
      for (const pinned of near) {
        // Repulsion (forceManyBody: strength · alpha / distance², within its reach, distanceMin 1).
        let x = pinned.x! - node.x!;
        let y = pinned.y! - node.y!;
        let l = x * x + y * y;
        if (l < charge.reach * charge.reach) {
          if (x === 0) l += (x = jiggle()) * x;
          if (y === 0) l += (y = jiggle()) * y;
          if (l < 1) l = Math.sqrt(l);
          node.vx! += (x * charge.strength * alpha) / l;
          node.vy! += (y * charge.strength * alpha) / l;
        }
        // Collision (forceCollide on the predicted position; half the overlap is the new node's share).
        x = node.x! + node.vx! - pinned.x! || jiggle();
        y = node.y! + node.vy! - pinned.y! || jiggle();
        l = x * x + y * y;
        const r = 2 * COLLIDE_RADIUS;
        if (l < r * r) {
          l = Math.sqrt(l);
          const k = ((r - l) / l) * 0.5;
          node.vx! += x * k;
          node.vy! += y * k;
        }
      }
    }
  };
}

/**
 * For the clustered layout: each namespace's centre on a grid, cells sized for the biggest namespace. A
 * namespace with nodes already placed keeps the centre of those.
 */
function namespaceClusters(model: GraphModel, known: ReadonlyMap<string, Point>): Map<string, Point> {
  const clusters = new Map<string, Point>();
  const groups = model.namespaces;
  const perRow = Math.max(1, Math.ceil(Math.sqrt(groups.length)));
  const cell = 2 * Math.sqrt(Math.max(1, ...groups.map((group) => group.nodeIds.length))) * NODE_RADIUS * 2.2 + 160;
  groups.forEach((group, index) => {
    const placed = group.nodeIds.map((id) => known.get(id)).filter((point): point is Point => point !== undefined);
    clusters.set(group.namespace, placed.length > 0 ? { x: mean(placed.map((p) => p.x)), y: mean(placed.map((p) => p.y)) } : { x: (index % perRow) * cell, y: Math.floor(index / perRow) * cell });
  });
  return clusters;
}

/**
 * The vertical centre of each namespace's band: namespaces stacked top to bottom in name order, each as
 * tall as its fullest column. A namespace with nodes already placed keeps the centre of those.
 */
function namespaceBands(model: GraphModel, columns: Map<string, number>, known: ReadonlyMap<string, Point>): Map<string, Point> {
  const bands = new Map<string, Point>();
  let top = 0;
  for (const group of model.namespaces) {
    const perColumn = new Map<number, number>();
    for (const id of group.nodeIds) perColumn.set(columns.get(id) ?? 0, (perColumn.get(columns.get(id) ?? 0) ?? 0) + 1);
    const height = Math.max(1, ...perColumn.values()) * ROW_GAP + 110;
    const placed = group.nodeIds.map((id) => known.get(id)).filter((point): point is Point => point !== undefined);
    bands.set(group.namespace, { x: 0, y: placed.length > 0 ? mean(placed.map((p) => p.y)) : top + height / 2 });
    top += height;
  }
  return bands;
}

/**
 * New nodes start in their column: next to the mean height of their placed neighbours if they have any,
 * else stacked in their namespace band in a stable order (namespace, service, version).
 */
function placeNewNodes(model: GraphModel, nodes: LayoutNode[], links: ReadonlyArray<SimulationLinkDatum<LayoutNode>>, byId: Map<string, LayoutNode>, columns: Map<string, number> | null, anchors: Map<string, Point>): void {
  const neighbours = new Map<string, string[]>();
  for (const link of links) {
    const source = link.source as string;
    const target = link.target as string;
    neighbours.set(source, [...(neighbours.get(source) ?? []), target]);
    neighbours.set(target, [...(neighbours.get(target) ?? []), source]);
  }
  const anyPinned = nodes.some((node) => node.pinned);
  const order = [...model.nodes].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.serviceKey.localeCompare(b.serviceKey) || a.id.localeCompare(b.id, 'en', { numeric: true }));
  const slots = new Map<string, number>();
  const siblingsOf = new Map<string, string[]>();
  for (const group of model.serviceGroups) for (const id of group.nodeIds) siblingsOf.set(id, group.nodeIds.filter((other) => other !== id));
  const placedInColumn = new Map<string, number>();
  if (columns !== null) for (const entry of order) placedInColumn.set(`${entry.namespace}\u0000${columns.get(entry.id) ?? 0}`, (placedInColumn.get(`${entry.namespace}\u0000${columns.get(entry.id) ?? 0}`) ?? 0) + 1);
  for (const entry of order) {
    const node = byId.get(entry.id)!;
    if (node.x !== undefined) continue;
    const column = columns?.get(node.id) ?? 0;
    const placed = anyPinned ? (neighbours.get(node.id) ?? []).map((id) => byId.get(id)!).filter((other) => other.pinned) : [];
    const angle = ((hashString(node.id) % 360) * Math.PI) / 180;
    if (placed.length > 0) {
      const y = mean(placed.map((other) => other.y!));
      if (columns !== null) {
        // A new version goes under its siblings; anything else level with its neighbours. Either way into
        // the nearest free row of its column, so it lands on no node and under no label.
        const siblings = (siblingsOf.get(node.id) ?? []).map((id) => byId.get(id)!).filter((other) => other.x !== undefined);
        node.x = column * COLUMN_GAP;
        node.y = freeRow(nodes, node.x, siblings.length > 0 ? Math.max(...siblings.map((other) => other.y!)) + ROW_GAP : y);
      } else {
        node.x = mean(placed.map((other) => other.x!)) + Math.cos(angle) * 70;
        node.y = y + Math.sin(angle) * 70;
      }
      continue;
    }
    // Outside any namespace (databases, brokers, the unknown caller): level with its neighbours' anchors.
    const neighbourAnchors = (neighbours.get(node.id) ?? []).map((id) => byId.get(id)!.namespace).filter((ns) => ns !== '').map((ns) => anchors.get(ns) ?? { x: 0, y: 0 });
    const anchor = node.namespace === '' && neighbourAnchors.length > 0 ? { x: mean(neighbourAnchors.map((a) => a.x)), y: mean(neighbourAnchors.map((a) => a.y)) } : (anchors.get(node.namespace) ?? { x: 0, y: 0 });
    const key = `${node.namespace}\u0000${column}`;
    const slot = slots.get(key) ?? 0;
    slots.set(key, slot + 1);
    if (columns !== null) {
      const count = placedInColumn.get(key) ?? 1;
      node.x = column * COLUMN_GAP;
      node.y = anchor.y + (slot - (count - 1) / 2) * ROW_GAP;
    } else {
      // A sunflower spiral around the namespace's centre: even spacing, no two nodes on one spot.
      const radius = NODE_RADIUS * 2.2 * Math.sqrt(slot + 0.5);
      node.x = anchor.x + radius * Math.cos(slot * 2.39996);
      node.y = anchor.y + radius * Math.sin(slot * 2.39996);
    }
  }
}

/** The height nearest `y` (trying y, y+row, y-row, y+2 rows…) where no placed node sits in the column at x. */
function freeRow(nodes: readonly LayoutNode[], x: number, y: number): number {
  const inColumn = nodes.filter((other) => other.x !== undefined && Math.abs(other.x - x) < COLUMN_GAP / 2).map((other) => other.y!);
  for (let step = 0; step < 200; step++) {
    const candidate = y + (step % 2 === 0 ? 1 : -1) * Math.ceil(step / 2) * ROW_GAP;
    if (inColumn.every((other) => Math.abs(other - candidate) >= ROW_GAP * 0.9)) return candidate;
  }
  return y;
}

function positionsOf(nodes: readonly LayoutNode[]): Positions {
  return new Map(nodes.map((node) => [node.id, { x: node.x ?? 0, y: node.y ?? 0 }]));
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** The bounding box of some positions, or null when there are none. */
export function boundsOf(points: Iterable<Point>): { minX: number; minY: number; maxX: number; maxY: number } | null {
  let box: { minX: number; minY: number; maxX: number; maxY: number } | null = null;
  for (const p of points) {
    if (box === null) box = { minX: p.x, minY: p.y, maxX: p.x, maxY: p.y };
    else {
      box.minX = Math.min(box.minX, p.x);
      box.minY = Math.min(box.minY, p.y);
      box.maxX = Math.max(box.maxX, p.x);
      box.maxY = Math.max(box.maxY, p.y);
    }
  }
  return box;
}
