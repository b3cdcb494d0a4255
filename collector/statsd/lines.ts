// The text of a datagram or of a TCP stream's complete lines → the aggregator, with what became of each line
// tallied. Used where lines are read: the StatsD receiver's own sockets and its UDP reader processes
// (receivers/statsd-reader.ts), whose tallies travel to the receiver as plain counts.
import type { StatsdAggregator } from './aggregator.ts';
import { mayDescribeEdge } from './edges.ts';
import type { MalformedReason } from './line.ts';

/** A line longer than this is malformed (too_long); a TCP sender never makes us buffer more per connection. */
export const MAX_LINE_LENGTH = 65_536;

/** What packets' lines came to, as plain counts (they cross from reader processes to the receiver). */
export interface LineCounts {
  packets: number;
  metrics: number;
  ignored: number;
  events: number;
  serviceChecks: number;
  dropped: number;
  malformed: Partial<Record<MalformedReason, number>>;
}

export const noLines = (): LineCounts => ({ packets: 0, metrics: 0, ignored: 0, events: 0, serviceChecks: 0, dropped: 0, malformed: {} });

/** Whether any packet or line was counted. */
export const anyLines = (counts: LineCounts): boolean => counts.packets > 0 || counts.metrics + counts.ignored + counts.events + counts.serviceChecks + counts.dropped > 0 || Object.keys(counts.malformed).length > 0;

/** Adds `more` into `into`. */
export function addLines(into: LineCounts, more: LineCounts): void {
  into.packets += more.packets;
  into.metrics += more.metrics;
  into.ignored += more.ignored;
  into.events += more.events;
  into.serviceChecks += more.serviceChecks;
  into.dropped += more.dropped;
  for (const [reason, count] of Object.entries(more.malformed) as Array<[MalformedReason, number]>) into.malformed[reason] = (into.malformed[reason] ?? 0) + count;
}

/**
 * Takes the '\n'-separated lines of `text` from `address`. When a line would open a series past the bound:
 * with `hold`, returns the text from that line on (nothing of it taken); without, drops and counts it. Else
 * null. Lines no edge is read from are counted `ignored` once their name and type are read.
 */
export function takeLines(aggregator: StatsdAggregator, text: string, address: string, tally: LineCounts, hold: boolean): string | null {
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end - start > MAX_LINE_LENGTH) {
      malformedLine(tally, 'too_long');
    } else {
      const outcome = aggregator.takeLine(text, start, end, address, mayDescribeEdge);
      switch (outcome) {
        case 'added':
          tally.metrics++;
          break;
        case 'ignored':
          tally.ignored++;
          break;
        case 'full':
          if (hold) return text.slice(start);
          tally.dropped++;
          break;
        case 'event':
          tally.events++;
          break;
        case 'service_check':
          tally.serviceChecks++;
          break;
        case 'empty':
          break;
        default:
          malformedLine(tally, outcome);
      }
    }
    start = end + 1;
  }
  return null;
}

export function malformedLine(tally: LineCounts, reason: MalformedReason): void {
  tally.malformed[reason] = (tally.malformed[reason] ?? 0) + 1;
}
