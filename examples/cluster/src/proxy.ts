// A tiny round-robin reverse proxy on loopback: each request goes to the next instance, so a
// client's POST, its resume and its cancel usually land on different instances. An instance
// that refuses the connection is skipped (it was stopped or killed).
import { createServer, request as forward, type Server } from 'node:http';

/** Starts the proxy in front of `targets` (instance URLs); resolves with its URL. */
export async function startProxy(targets: readonly string[], port = 0): Promise<{ url: string; server: Server }> {
  let next = 0;
  const server = createServer((incoming, outgoing) => {
    const tryTarget = (attempt: number): void => {
      const target = new URL(targets[next++ % targets.length] as string);
      const upstream = forward(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      upstream.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ECONNREFUSED' && attempt < targets.length && !outgoing.headersSent) return tryTarget(attempt + 1);
        if (!outgoing.headersSent) outgoing.writeHead(502).end();
        else outgoing.destroy();
      });
      // A client that leaves closes its upstream request too (the instance sees the disconnect).
      outgoing.once('close', () => upstream.destroy());
      incoming.pipe(upstream);
    };
    tryTarget(1);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}
