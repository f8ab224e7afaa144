import { describeValue, invalidArgument } from './invalid-argument.js';

/** Headers sent with every request: fixed, or a function called per request (fresh tokens on resume). */
export type HeadersOption = HeadersInit | (() => HeadersInit | Promise<HeadersInit>);

/** The part of `fetch` the client uses: the global `fetch` fits, and so does any wrapper. */
export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

/** Where the server is and how to reach it: shared by every call of the client. */
export interface ConnectionOptions {
  /**
   * Where the sluice router is mounted, e.g. `http://localhost:3000/api`. In a browser page a
   * relative URL (`/api`) is resolved against the page's address.
   */
  baseURL: string | URL;
  /**
   * Headers for every request (e.g. `Authorization`). A function is called before each
   * request, resumes included, so a refreshed token is picked up.
   */
  headers?: HeadersOption;
  /** The `fetch` to use. Default: the global `fetch`. */
  fetch?: FetchFunction;
}

function pageAddress(): string | undefined {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  return typeof location?.href === 'string' ? location.href : undefined;
}

/** A validated `ConnectionOptions`: builds the routes' URLs and each request's headers. */
export class Endpoint {
  readonly baseURL: URL;
  private readonly headersOption: HeadersOption | undefined;
  private readonly fetchFunction: FetchFunction;

  constructor(options: ConnectionOptions) {
    const { baseURL } = options;
    if (typeof baseURL !== 'string' && !(baseURL instanceof URL)) {
      throw invalidArgument(`baseURL must be a URL string such as "http://localhost:3000/api", got ${describeValue(baseURL)}`);
    }
    let url: URL;
    try {
      url = new URL(baseURL, pageAddress());
    } catch (cause) {
      throw invalidArgument(
        `baseURL ${describeValue(String(baseURL))} is not a URL: pass an absolute URL such as "http://localhost:3000/api" (relative URLs work only in a page)`,
        cause,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      const example = /^[a-z][a-z\d+.-]*:\/\//i.test(String(baseURL)) ? 'http://localhost:3000/api' : `http://${String(baseURL)}`;
      throw invalidArgument(`baseURL ${describeValue(String(baseURL))} must use http: or https: (e.g. "${example}"), not ${url.protocol}`);
    }
    url.hash = '';
    url.pathname = url.pathname.replace(/\/+$/, '');
    this.baseURL = url;

    const { headers } = options;
    if (headers !== undefined && (typeof headers !== 'object' || headers === null) && typeof headers !== 'function') {
      throw invalidArgument(`headers must be an object, a Headers, an array of pairs or a function, got ${describeValue(headers)}`);
    }
    this.headersOption = headers;

    if (options.fetch !== undefined) {
      if (typeof options.fetch !== 'function') throw invalidArgument(`fetch must be a function, got ${describeValue(options.fetch)}`);
      this.fetchFunction = options.fetch;
    } else {
      if (typeof globalThis.fetch !== 'function') {
        throw invalidArgument('there is no global fetch here: pass one as the fetch option (Node >= 22 and browsers have it)');
      }
      // Called through globalThis at request time: browsers reject a detached `fetch` ("Illegal invocation").
      this.fetchFunction = (input, init) => globalThis.fetch(input, init);
    }
  }

  /** The URL of a route, e.g. `url('runs', runId, 'events')`; each segment is encoded. */
  url(...segments: string[]): string {
    const url = new URL(this.baseURL);
    // A server mounted at the root has the pathname `/`: no `//chat`.
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${segments.map(encodeURIComponent).join('/')}`;
    return url.href;
  }

  /** The caller's headers plus `extra` (which win). */
  async headers(extra: Record<string, string>): Promise<Headers> {
    const option = this.headersOption;
    const headers = new Headers(typeof option === 'function' ? await option() : option);
    for (const [name, value] of Object.entries(extra)) headers.set(name, value);
    return headers;
  }

  fetch(url: string, init: RequestInit): Promise<Response> {
    return this.fetchFunction(url, init);
  }
}
