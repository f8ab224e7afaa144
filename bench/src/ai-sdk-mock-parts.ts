/**
 * The stream parts of a plain text reply in the Vercel AI SDK's language-model contract (v4),
 * for its `MockLanguageModelV4`: the same tokens the sluice cases stream.
 */
export function aiSdkTextParts(tokens: readonly string[]) {
  return [
    { type: 'stream-start' as const, warnings: [] },
    { type: 'text-start' as const, id: 't' },
    ...tokens.map((delta) => ({ type: 'text-delta' as const, id: 't', delta })),
    { type: 'text-end' as const, id: 't' },
    {
      type: 'finish' as const,
      finishReason: { unified: 'stop' as const, raw: 'stop' },
      usage: {
        inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: tokens.length, text: tokens.length, reasoning: undefined },
      },
    },
  ];
}
