export { chatRouter, type ChatRouter, type ChatRouterOptions } from './chat-router.js';
