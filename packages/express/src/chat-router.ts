import { createChatHandler, type ChatHandler, type ChatHandlerOptions } from '@sluice/http';
import { Router, type RequestHandler } from 'express';
import { rateLimit, type Options as RateLimitOptions } from 'express-rate-limit';

/** Options of `chatRouter`: those of `createChatHandler`, plus rate limiting. */
export interface ChatRouterOptions extends ChatHandlerOptions {
  /**
   * express-rate-limit options for the whole router, or `false` to turn it off.
   * Default: 120 requests per minute per client address.
   */
  rateLimit?: Partial<RateLimitOptions> | false;
}

/** An Express router serving the sluice routes, with its handler for shutdown. */
export type ChatRouter = Router & { readonly chat: ChatHandler };

/**
 * Mounts sluice's HTTP API (`POST /chat`, `GET /runs/:id/events`, `POST /runs/:id/cancel`,
 * `GET /conversations/:id`) on an Express 5 router. All decisions live in `@sluice/http`;
 * this only rate-limits and hands requests over.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { FakeChatModel } from '@sluice/core';
 * import { chatRouter } from '@sluice/express';
 *
 * const app = express();
 * app.use('/api', chatRouter({ model: new FakeChatModel({ rate: 30 }) }));
 * app.listen(3000, '127.0.0.1');
 * ```
 */
export function chatRouter(options: ChatRouterOptions): ChatRouter {
  const chat = createChatHandler(options);
  const router = Router();
  if (options.rateLimit !== false) {
    router.use(
      rateLimit({
        windowMs: 60_000,
        limit: 120,
        standardHeaders: 'draft-8',
        legacyHeaders: false,
        handler: (_request, response, _next, limitOptions) => {
          response
            .status(limitOptions.statusCode)
            .json({ error: { code: 'rate_limited', message: 'too many requests: slow down and retry after the Retry-After delay' } });
        },
        ...options.rateLimit,
      }),
    );
  }
  const handle: RequestHandler = (request, response, next) => {
    void chat(request, response, next);
  };
  router.use(handle);
  return Object.assign(router, { chat });
}
