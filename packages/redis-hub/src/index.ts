export { RedisRunHub } from './redis-run-hub.js';
export type { RedisRunHubOptions } from './redis-run-hub-options.js';
