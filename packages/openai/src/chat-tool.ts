// The tool description is core's, shared by every adapter; re-exported so that
// `import type { ChatTool } from '@sluice/openai'` keeps working.
export type { ChatTool } from '@sluice/core';
