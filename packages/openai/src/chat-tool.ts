/** A tool the model may call, described once for every provider. */
export interface ChatTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. Default: an object with no declared properties. */
  parameters?: Record<string, unknown>;
}
