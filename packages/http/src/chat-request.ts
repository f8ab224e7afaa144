import { z } from 'zod';
import { HttpError } from './http-error.js';

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'use letters, digits and _ . : - only');

/** The body of `POST /chat`. */
export const chatRequestSchema = z.object({
  conversationId: id.optional(),
  messages: z
    .array(
      z.object({
        role: z.enum(['user', 'system']),
        content: z.string().min(1).max(100_000),
      }),
    )
    .min(1)
    .max(50),
  model: z.string().min(1).max(200).optional(),
});

/** A validated `POST /chat` body. */
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Validates a `POST /chat` body; a 400 `invalid_request` lists every offending field. */
export function parseChatRequest(body: unknown): ChatRequest {
  const parsed = chatRequestSchema.safeParse(body);
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
