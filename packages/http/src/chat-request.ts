import { z } from 'zod';
import { HttpError } from './http-error.js';

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits and _ . : - only');

/** Limits on the content parts of a `POST /chat` body. */
export interface ChatRequestLimits {
  /** Most parts in one message. Default 10. */
  maxParts?: number;
  /** Most base64 characters of part `data` in one request, all parts together. Default 4 MiB. */
  maxPartBytes?: number;
}

const DEFAULT_MAX_PARTS = 10;
const DEFAULT_MAX_PART_BYTES = 4 * 1024 * 1024;

const text = z.string().min(1).max(100_000);
// Only web URLs: a data: URL would carry bytes past the base64 limit, which counts `data` only.
const webUrl = z
  .string()
  .max(2048)
  .regex(/^https?:\/\//, 'use an http(s) URL, or send the bytes as base64 `data`');
const base64 = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const mediaType = z
  .string()
  .max(100)
  .regex(/^[a-z]+\/[a-z0-9.+-]+$/i, 'must be a media type such as image/png');
const filename = z.string().min(1).max(255);

/** Exactly one of `url` or `data`, for image and file parts. */
function urlOrData(part: { url?: string | undefined; data?: string | undefined }, context: z.RefinementCtx): void {
  if ((part.url === undefined) === (part.data === undefined)) {
    context.addIssue({ code: 'custom', path: ['url'], message: 'give exactly one of url or data' });
  }
}

const contentPart = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text }),
  z
    .strictObject({ type: z.literal('image'), url: webUrl.optional(), data: base64.optional(), mediaType: mediaType.optional() })
    .superRefine((part, context) => {
      urlOrData(part, context);
      if (part.data !== undefined && part.mediaType === undefined) context.addIssue({ code: 'custom', path: ['mediaType'], message: 'required with data' });
    }),
  z
    .strictObject({ type: z.literal('file'), url: webUrl.optional(), data: base64.optional(), mediaType, filename: filename.optional() })
    .superRefine(urlOrData),
]);

/**
 * A message's content: text, or parts. Checked by its own shape rather than as a union, so a
 * 400 names the offending part and says what is wrong with it (a union only says "invalid").
 */
function content<TParts extends z.ZodType<unknown[]>>(parts: TParts) {
  return z.custom<string | z.infer<TParts>>().superRefine((value, context) => {
    const result = (Array.isArray(value) ? parts : text).safeParse(value);
    if (result.success) return;
    for (const issue of result.error.issues) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });
}

/** The `POST /chat` body schema with the given part limits. */
export function chatRequestSchemaWith(limits: ChatRequestLimits = {}) {
  const maxParts = limits.maxParts ?? DEFAULT_MAX_PARTS;
  const maxPartBytes = limits.maxPartBytes ?? DEFAULT_MAX_PART_BYTES;
  return z
    .object({
      conversationId: id.optional(),
      messages: z
        .array(
          z
            .object({
              role: z.enum(['user', 'system']),
              content: content(z.array(contentPart).min(1).max(maxParts, `at most ${maxParts} parts per message`)),
            })
            .superRefine((message, context) => {
              if (message.role !== 'user' && typeof message.content !== 'string') {
                context.addIssue({ code: 'custom', path: ['content'], message: 'content parts are accepted in user messages only' });
              }
            }),
        )
        .min(1)
        .max(50),
      model: z.string().min(1).max(200).optional(),
    })
    .superRefine((request, context) => {
      // One budget for the whole request: the part that passes it is the one named.
      let total = 0;
      request.messages.forEach((message, index) => {
        if (typeof message.content === 'string') return;
        message.content.forEach((part, position) => {
          if (part.type === 'text' || part.data === undefined) return;
          total += part.data.length;
          if (total > maxPartBytes && total - part.data.length <= maxPartBytes) {
            context.addIssue({
              code: 'custom',
              path: ['messages', index, 'content', position, 'data'],
              message: `the request's base64 data passes ${maxPartBytes} bytes (maxPartBytes): send fewer or smaller images and files`,
            });
          }
        });
      });
    });
}

/** The body of `POST /chat`, with the default limits (see `chatRequestSchemaWith`). */
export const chatRequestSchema = chatRequestSchemaWith();

/**
 * A validated `POST /chat` body. A user message's `content` is text or a list of parts (text,
 * image, file: `ContentPart` of `@sluice/core`).
 */
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Validates a `POST /chat` body; a 400 `invalid_request` lists every offending field. */
export function parseChatRequest(body: unknown, schema: ReturnType<typeof chatRequestSchemaWith> = chatRequestSchema): ChatRequest {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(body)',
    message: issue.message,
  }));
  throw new HttpError({
    status: 400,
    code: 'invalid_request',
    message: `invalid request: ${details.map((detail) => `${detail.path}: ${detail.message}`).join('; ')}`,
    details,
  });
}

/** Validates a run or conversation id taken from a path. */
export function isValidId(value: string): boolean {
  return id.safeParse(value).success;
}
