// The minute a time falls in, for the per-minute row builders. Consecutive observations mostly share a
// minute, so the last one's bounds are kept and most calls need no bigint division.

const NS_PER_MINUTE = 60_000_000_000n;

export class MinuteClock {
  private startNs = 0n;
  private endNs = 0n;
  private minute = 0;

  /** The start of the minute `timeUnixNano` falls in, in seconds since the epoch. */
  minuteOf(timeUnixNano: bigint): number {
    if (timeUnixNano >= this.startNs && timeUnixNano < this.endNs) return this.minute;
    const minute = Number(timeUnixNano / NS_PER_MINUTE) * 60;
    // Division truncates towards zero: only a time after 1970 is the start of [start, end).
    if (timeUnixNano >= 0n) {
      this.startNs = (timeUnixNano / NS_PER_MINUTE) * NS_PER_MINUTE;
      this.endNs = this.startNs + NS_PER_MINUTE;
      this.minute = minute;
    }
    return minute;
  }
}
