// What every trace receiver does with a decoded request, whatever its transport: convert and
// validate, count, export, and report what was rejected. Transports only map outcomes to status codes.
import type { CollectorMetrics, Receiver } from './metrics.ts';
import type { ConvertedTraces } from './otlp/traces.ts';
import { OverloadError, ShuttingDownError } from './batcher.ts';
import type { GraphProcessor, PreparedSpans } from './graph-processor.ts';
import type { SpanExporter } from './span-exporter.ts';

export interface IntakeResult {
  rejected: number;
  errorMessage: string;
}

export class TraceIntake {
  constructor(
    private readonly exporter: SpanExporter,
    private readonly metrics: CollectorMetrics,
    private readonly graph?: GraphProcessor,
  ) {}

  /** Resolves once the accepted spans are stored. Throws OverloadError, ShuttingDownError or a storage error. */
  accept(receiver: Receiver, converted: ConvertedTraces): Promise<IntakeResult> {
    const { spans, rejected, errorMessage } = converted;
    this.metrics.receivedSpans.inc({ receiver }, spans.length + rejected);
    if (rejected > 0) this.metrics.rejectedSpans.inc({ receiver, reason: 'invalid' }, rejected);
    if (converted.truncatedAttributes > 0) this.metrics.truncatedAttributes.inc(converted.truncatedAttributes);
    if (converted.droppedAttributes > 0) this.metrics.droppedAttributes.inc(converted.droppedAttributes);
    let stored: Promise<void>;
    let refused = false;
    try {
      stored = this.exporter.export(spans);
    } catch (error) {
      stored = Promise.reject(error);
      refused = true;
    }
    // The spans are encoded by now and are not kept alive while the insert is pending (with many requests
    // in flight, that is most of the heap): the graph keeps its small part of them until they are stored —
    // none of a request refused at once (overload), which its sender will resend.
    const forGraph = refused ? undefined : this.graph?.prepare(spans);
    return this.settle(receiver, stored, spans.length, { rejected, errorMessage }, forGraph);
  }

  private async settle(receiver: Receiver, stored: Promise<void>, count: number, result: IntakeResult, forGraph: PreparedSpans | undefined): Promise<IntakeResult> {
    try {
      await stored;
    } catch (error) {
      if (error instanceof OverloadError) this.metrics.refusedSpans.inc({ receiver, reason: 'overload' }, count);
      else if (error instanceof ShuttingDownError) this.metrics.refusedSpans.inc({ receiver, reason: 'shutdown' }, count);
      else this.metrics.droppedSpans.inc({ receiver }, count);
      throw error;
    }
    this.metrics.acceptedSpans.inc({ receiver }, count);
    // Only stored spans feed the graph: a refused request is retried by its sender and would count twice.
    if (forGraph !== undefined) this.graph?.observe(forGraph);
    return result;
  }
}
