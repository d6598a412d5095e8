/**
 * The dashboard: a hash router over a few pages, and the sign-in. Every page draws with dom.ts
 * (text only) and reads the API with the signed-in user's token (api.ts).
 */
import { ApiError, get, session } from './api.js';
import { h, link } from './dom.js';
import type { Page } from './page.js';
import { artifactsPage } from './pages/artifacts.js';
import { clustersPage } from './pages/clusters.js';
import { jobPage } from './pages/job.js';
import { jobsPage } from './pages/jobs.js';
import { workflowPage, workflowsPage } from './pages/workflows.js';

const PAGES: Record<string, (p: Page) => Promise<void>> = {
  jobs: jobsPage,
  job: jobPage,
  workflows: workflowsPage,
  workflow: workflowPage,
  artifacts: artifactsPage,
  clusters: clustersPage,
};
const NAV: [string, string][] = [
  ['jobs', 'Jobs'],
  ['workflows', 'Workflows'],
  ['artifacts', 'Artifacts'],
  ['clusters', 'Clusters'],
];

let current: AbortController | undefined;

function signInForm(main: HTMLElement, message?: string): void {
  const input = h('input', { attrs: { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'hpcb_…', required: true } });
  const problem = h('p', { class: 'error', attrs: { id: 'signin-error' } }, message ?? '');
  const form = h(
    'form',
    {
      class: 'card signin',
      attrs: { id: 'signin' },
      on: {
        submit: (e) => {
          e.preventDefault();
          const token = input.value.trim();
          if (!token) return;
          session.signIn(token);
          get<{ user: string }>('/me')
            .then(() => route())
            .catch((err: unknown) => {
              session.signOut();
              problem.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not valid (revoked, mistyped, or for another daemon).' : `Sign-in failed: ${String(err)}`;
            });
        },
      },
    },
    h('h1', {}, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste your API token (from `hpc-bridge token create`). It is kept in this tab only and forgotten when the tab closes.'),
    h('label', { attrs: { for: 'token' } }, 'Token'),
    input,
    h('button', { class: 'primary', attrs: { type: 'submit' } }, 'Sign in'),
    problem,
  );
  main.replaceChildren(form);
  input.focus();
}

async function header(name: string): Promise<void> {
  const nav = document.getElementById('nav')!;
  nav.replaceChildren(...NAV.map(([k, label]) => h('a', { class: k === name || `${k}`.startsWith(name) ? 'on' : '', attrs: { href: `#/${k}` } }, label)));
  const who = document.getElementById('who')!;
  try {
    const me = await get<{ user: string }>('/me');
    who.replaceChildren(h('span', { attrs: { id: 'user' } }, me.user), h('button', { attrs: { id: 'signout', type: 'button' }, on: { click: () => (session.signOut(), route()) } }, 'Sign out'));
  } catch {
    who.replaceChildren();
  }
}

async function route(): Promise<void> {
  current?.abort();
  const ac = new AbortController();
  current = ac;
  const main = document.getElementById('main')!;
  const [path = 'jobs', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name = 'jobs', arg] = path.split('/');
  if (!session.token()) {
    document.getElementById('nav')!.replaceChildren();
    document.getElementById('who')!.replaceChildren();
    return signInForm(main);
  }
  void header(name);
  const page: Page = {
    main,
    arg,
    params: new URLSearchParams(query),
    signal: ac.signal,
    every(ms, fn) {
      const tick = async () => {
        if (ac.signal.aborted) return;
        let again: boolean | void = true;
        try {
          again = await fn();
        } catch (e) {
          if (ac.signal.aborted) return;
          console.warn(e);
        }
        if (again !== false && !ac.signal.aborted) setTimeout(() => void tick(), ms);
      };
      void tick();
    },
    go: (hash) => {
      location.hash = hash;
    },
  };
  const draw = PAGES[name];
  if (!draw) {
    main.replaceChildren(h('h1', {}, 'Not found'), link('#/jobs', 'Your jobs'));
    return;
  }
  try {
    await draw(page);
  } catch (e) {
    if (ac.signal.aborted) return;
    main.replaceChildren(h('h1', {}, 'Could not load this page'), h('p', { class: 'error' }, e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)));
  }
}

window.addEventListener('hashchange', () => void route());
window.addEventListener('hpcb:signed-out', () => signInForm(document.getElementById('main')!, 'Your token was refused; sign in again.'));
void route();
