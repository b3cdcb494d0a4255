// Series a remote-write receiver has decoded before, remembered across requests so the same series sent
// again gets the same labels object (the converter keys its counter state by that object). Shared by the
// 1.0 and 2.0 readers, which differ only in what identifies a series (its Label bytes, or its symbols).

/** A remembered series: its generation, the next series with the same hash, and the one read after it last time. */
export interface RememberedSeries<T> {
  generation: number;
  next: T | undefined;
  following: T | undefined;
}

/**
 * Two generations of hash chains, each at most `maxSize` series: when the current one is full it becomes the
 * previous one and the older is forgotten, so memory stays bounded while the series still sent stay found.
 * `following` links each series to the one read after it last time: a Prometheus shard sends a target's
 * series in scrape order, so the next series is usually found with one compare and no hash.
 */
export class SeriesGenerations<T extends RememberedSeries<T>> {
  protected current = new Map<number, T>();
  protected previous = new Map<number, T>();
  protected currentSize = 0;
  /** Generation of the series in `current` (`previous` holds generation - 1). */
  protected generation = 0;
  /** The series found last: its `following` is the guess for the next one. */
  protected last: T | undefined;

  constructor(protected readonly maxSize: number) {}

  /** The series read after the last one found, last time; undefined when there is none still current. */
  protected guess(): T | undefined {
    const guess = this.last?.following;
    return guess !== undefined && guess.generation === this.generation ? guess : undefined;
  }

  /** A series found by its hash chain (or a guess that held): moved to the current generation if older. */
  protected found(hash: number, known: T): T {
    const current = known.generation === this.generation ? known : this.keep(hash, { ...known, next: undefined });
    this.follows(current);
    return current;
  }

  /** Remembers a series (as read after the last one found) in the current generation. */
  add(hash: number, known: T): T {
    const kept = this.keep(hash, known);
    this.follows(kept);
    return kept;
  }

  /** Forgets every series. */
  protected forgetAll(): void {
    this.current = new Map();
    this.previous = new Map();
    this.currentSize = 0;
    this.generation++;
    this.last = undefined;
  }

  protected follows(known: T): void {
    const last = this.last;
    if (last !== undefined && last.following !== known) last.following = known;
    this.last = known;
  }

  private keep(hash: number, known: T): T {
    if (this.currentSize >= this.maxSize) {
      // The series forgotten now hold on to no other: a chain of forgotten series cannot grow.
      for (const first of this.previous.values()) for (let set: T | undefined = first; set !== undefined; set = set.next) set.following = undefined;
      this.previous = this.current;
      this.current = new Map();
      this.currentSize = 0;
      this.generation++;
    }
    known.generation = this.generation;
    known.next = this.current.get(hash);
    this.current.set(hash, known);
    this.currentSize++;
    return known;
  }
}
