// snappyjs 0.7 ships no types: the two functions remote-write uses (snappy block format).
declare module 'snappyjs' {
  /** Throws Error('Invalid Snappy bitstream'), or a length error when the declared size exceeds maxLength. */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
}
