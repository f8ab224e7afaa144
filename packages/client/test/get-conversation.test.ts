import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConversation, streamChat } from '../src/index.js';
import { ProtocolServer } from './protocol-server.js';

let server: ProtocolServer;
let baseURL: string;

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

describe('getConversation', () => {
  it('loads the history of a conversation, both turns included', async () => {
    server.script({ deltas: ['Hello', '!'] }).script({ deltas: ['Still ', 'here.'] });
    const first = streamChat({ baseURL, messages: [{ role: 'user', content: 'Hi' }] });
    await first.done;
    const conversationId = first.conversationId as string;
    await streamChat({ baseURL, conversationId, messages: [{ role: 'user', content: 'Still there?' }] }).done;

    const conversation = await getConversation(new URL(baseURL), conversationId, { headers: { Authorization: 'Bearer t0ken' } });
    expect(conversation.conversationId).toBe(conversationId);
    expect(conversation.messages.map(({ role, content }) => ({ role, content }))).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Still there?' },
      { role: 'assistant', content: 'Still here.' },
    ]);
    const request = server.requestsTo('GET', '/conversations/').at(-1);
    expect(request?.headers.accept).toBe('application/json');
    expect(request?.headers.authorization).toBe('Bearer t0ken');
  });

  it('rejects an unknown conversation with not_found', async () => {
    await expect(getConversation(baseURL, 'conversation-unknown')).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
      message: expect.stringContaining('conversation conversation-unknown does not exist'),
    });
  });

  it('encodes the id into the path', async () => {
    await expect(getConversation(baseURL, 'a/b?c')).rejects.toMatchObject({ code: 'not_found' });
    expect(server.requests.at(-1)?.path).toBe('/api/conversations/a%2Fb%3Fc');
  });
});
