/**
 * Calls to the daemon's API with the signed-in user's token. The token lives in sessionStorage
 * only (gone when the tab closes; never in a URL, a cookie or a log), and is sent as a bearer
 * header: the page can reach exactly what the CLI with that token can.
 */
const KEY = 'hpcb.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(KEY),
  signIn: (t: string) => sessionStorage.setItem(KEY, t),
  signOut: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

export async function request(method: string, path: string, opts: { query?: Query; json?: unknown; signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
  const u = new URL(`/api/v1${path}`, location.origin);
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v === undefined || v === '') continue;
    if (Array.isArray(v)) for (const x of v) u.searchParams.append(k, x);
    else u.searchParams.set(k, String(v));
  }
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const t = session.token();
  if (t) headers.authorization = `Bearer ${t}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(u, { method, headers, cache: 'no-store', credentials: 'omit', ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  if (res.ok) return res;
  let code = 'HTTP_' + res.status;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } };
    if (body.error) ({ code, message } = body.error);
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) {
    session.signOut();
    window.dispatchEvent(new Event('hpcb:signed-out'));
  }
  throw new ApiError(res.status, code, message);
}

export async function get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
  return (await (await request('GET', path, { ...(query ? { query } : {}), ...(signal ? { signal } : {}) })).json()) as T;
}

export async function send<T>(method: string, path: string, json?: unknown): Promise<T> {
  return (await (await request(method, path, json === undefined ? {} : { json })).json()) as T;
}
