/**
 * A cancel's reason travels through the runs table to the instance holding the run: JSON for
 * what JSON keeps (strings, numbers, plain objects), an Error as its name and message.
 */
type EncodedReason = { error: { name: string; message: string } } | { value: unknown } | Record<string, never>;

export function encodeCancelReason(reason: unknown): string {
  let encoded: EncodedReason;
  if (reason === undefined) encoded = {};
  else if (reason instanceof Error) encoded = { error: { name: reason.name, message: reason.message } };
  else encoded = { value: reason };
  try {
    return JSON.stringify(encoded);
  } catch {
    // Cycles, bigints: what the reason says is kept, not its shape.
    return JSON.stringify({ value: String(reason) });
  }
}

export function decodeCancelReason(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    const encoded = JSON.parse(text) as EncodedReason;
    if ('error' in encoded) {
      const error = new Error(encoded.error.message);
      error.name = encoded.error.name;
      return error;
    }
    return 'value' in encoded ? encoded.value : undefined;
  } catch {
    return undefined;
  }
}
