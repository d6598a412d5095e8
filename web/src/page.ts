/**
 * What a page is given: where to draw, its hash parameters, and a way to repeat work (polling)
 * that stops by itself when the user goes to another page.
 */
export interface Page {
  main: HTMLElement;
  /** The part after `#/page/` (an id), if any. */
  arg: string | undefined;
  params: URLSearchParams;
  signal: AbortSignal;
  /** Run `fn` now and then every `ms` until the page is left or `fn` returns false. */
  every(ms: number, fn: () => Promise<boolean | void>): void;
  go(hash: string): void;
}

export function setParams(base: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${base}?${qs}` : base;
}
