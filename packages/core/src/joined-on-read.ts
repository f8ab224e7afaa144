/**
 * Defines `target[key]` as `parts.join('')`, computed on first read and then kept as a plain
 * data property. A run's text is joined once, and only if something reads it: a consumer
 * that only iterates the deltas never pays for a copy of the whole message.
 */
export function defineJoinedOnRead(target: object, key: string, parts: readonly string[]): void {
  const settle = (owner: object, value: string): void => {
    Object.defineProperty(owner, key, { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get(this: object): string {
      const value = parts.join('');
      settle(this, value);
      return value;
    },
    set(this: object, value: string): void {
      settle(this, value);
    },
  });
}
