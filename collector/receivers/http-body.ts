// What every fastify receiver (OTLP/HTTP on 4318, Zipkin on 9411) does with a request body before
// its route sees it: inflate it, and turn fastify's own body errors into one-line bad requests.
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import { BadRequestError } from '../otlp/traces.ts';

/**
 * Inflates gzip/deflate bodies (a fastify `preParsing` hook returns this). fastify checks
 * Content-Length against the bytes read from the stream we return, which are the inflated ones;
 * `receivedEncodedLength` tells it the raw count instead, while `bodyLimit` still caps the inflated size.
 */
export function decompressBody(encoding: string | string[] | undefined, payload: Readable): Readable {
  const name = String(encoding ?? 'identity').toLowerCase();
  if (name === 'identity') return payload;
  if (name !== 'gzip' && name !== 'deflate') {
    throw new BadRequestError(`unsupported content-encoding "${name}"; send gzip or none`, 'decode');
  }
  const inflate = name === 'gzip' ? createGunzip() : createInflate();
  const counted = inflate as typeof inflate & { receivedEncodedLength: number };
  counted.receivedEncodedLength = 0;
  payload.on('data', (chunk: Buffer) => {
    counted.receivedEncodedLength += chunk.length;
  });
  payload.on('error', (error) => inflate.destroy(error));
  payload.pipe(inflate);
  return inflate;
}

/**
 * A body error fastify or zlib raised, as the bad request the sender should hear about; undefined
 * for anything else (a server-side failure).
 */
export function bodyProblem(error: unknown, contentEncoding: string | string[] | undefined, maxBodyBytes: number): BadRequestError | undefined {
  if (error instanceof BadRequestError) return error;
  const fastifyError = error as { statusCode?: number; code?: string; message?: string };
  if (fastifyError.code?.startsWith('Z_')) {
    return new BadRequestError(`body is not valid ${String(contentEncoding)}: ${fastifyError.message}`, 'decode');
  }
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fastifyError.statusCode === 413) {
    return new BadRequestError(`request body over limits.max_body_bytes (${maxBodyBytes} bytes after decompression)`, 'too_large');
  }
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
    return new BadRequestError(firstLine(fastifyError.message ?? 'bad request'), 'decode');
  }
  return undefined;
}

export function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
