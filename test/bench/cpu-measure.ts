// CPU and allocation of one synchronous piece of work in this process, for the micro-benchmarks
// (bench:graph-cpu, bench:prom-cpu, bench:statsd-cpu). Needs node --expose-gc.
//
// CPU is this process's user + system time (GC helper threads included; each measurement starts after a
// full GC and its sweeping, so the heap an earlier measurement left is not charged to this one).
// Allocation is the V8 heap growth plus what every GC during the work freed (v8.GCProfiler), so it counts
// garbage too.
import { GCProfiler } from 'node:v8';

export interface Measure {
  cpuMs: number;
  wallMs: number;
  allocatedBytes: number;
  gcMs: number;
}

/** Throws unless the process runs with --expose-gc; `script` names the npm script that sets it. */
export function requireExposedGc(script: string): () => void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error(`run with node --expose-gc (npm run ${script} does)`);
  return collect;
}

export async function measureCpu(run: () => void): Promise<Measure> {
  (globalThis as { gc?: () => void }).gc?.();
  // Sweeping after a full GC runs on helper threads and would be charged to the work: let it finish.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const profiler = new GCProfiler();
  profiler.start();
  const usedBefore = process.memoryUsage().heapUsed;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  run();
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  const usedAfter = process.memoryUsage().heapUsed;
  let freed = 0;
  let gcMicros = 0;
  for (const gc of profiler.stop()?.statistics ?? []) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
    gcMicros += gc.cost;
  }
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs, allocatedBytes: usedAfter - usedBefore + freed, gcMs: gcMicros / 1000 };
}

export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
