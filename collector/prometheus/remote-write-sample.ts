// prompb's Sample message, the same in remote-write 1.0 (prometheus.Sample) and 2.0
// (io.prometheus.write.v2.Sample): { double value = 1; int64 timestamp = 2; }.
import { FIXED64, type Reader, VARINT } from '../protobuf-reader.ts';

const VALUE_DOUBLE = (1 << 3) | FIXED64;
const TIMESTAMP = (2 << 3) | VARINT;

/** One reader's last Sample, read in place: no object per sample on the hot path. */
export class SampleReader {
  value = 0;
  /** Unix ms; 0 when the sender left it out. */
  timestampMs = 0;

  /** Reads the Sample whose length prefix is at the reader's position; other fields are skipped. */
  read(reader: Reader): void {
    const outer = reader.enter();
    this.value = 0;
    this.timestampMs = 0;
    while (reader.pos < reader.end) {
      const field = reader.uint32();
      if (field === VALUE_DOUBLE) this.value = reader.double();
      else if (field === TIMESTAMP) this.timestampMs = int64AsNumber(reader);
      else reader.skip(field & 7);
    }
    reader.leave(outer);
  }
}

/** An int64 varint as a number (exact up to 2^53); a negative one (ten bytes on the wire) as such. */
function int64AsNumber(reader: Reader): number {
  const value = reader.varint();
  return value >= 2 ** 63 ? value - 2 ** 64 : value;
}
