import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

/**
 * Reads a JSON request body: 415 unless it is JSON, 413 past `maxBytes` (stopping the read at
 * once), 408 when the client takes longer than `timeoutMs`, 400 when it does not parse. A body
 * that a framework already parsed (`request.body`) is used as is.
 */
export async function readJsonBody(request: IncomingMessage, options: { maxBytes: number; timeoutMs: number }): Promise<unknown> {
  const parsed = (request as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && typeof parsed === 'object' && parsed !== null && !Buffer.isBuffer(parsed)) return parsed;
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new HttpError({ status: 415, code: 'unsupported_media_type', message: 'send the body as application/json' });
  }
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (declared > options.maxBytes) throw tooLarge(options.maxBytes);
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(new HttpError({ status: 408, code: 'request_timeout', message: `the body took longer than ${options.timeoutMs} ms` }));
    }, options.timeoutMs);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > options.maxBytes) {
        cleanup();
        reject(tooLarge(options.maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    function cleanup(): void {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    }
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError({ status: 400, code: 'invalid_request', message: 'the body is not valid JSON', details: [{ path: '(body)', message: 'invalid JSON' }], cause: error });
  }
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError({ status: 413, code: 'payload_too_large', message: `the body is larger than ${maxBytes} bytes` });
}
