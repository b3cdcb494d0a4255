// Boot and router: builds the page shell, mounts the view the URL names and hands it every state change.
// Later views (trace explorer, trace view) plug in by adding a name to VIEWS and an entry to MOUNTERS.
import './theme.css';
import { applyTheme, effectiveTheme, toggleTheme } from './theme.ts';
import { type ViewName, type ViewState, currentState, navigate, onStateChange } from './url-state.ts';
import { mountGraphView } from './views/graph-view.ts';
import { mountTraceSearch } from './views/trace-search.ts';
import { mountTraceView } from './views/trace-view.ts';

export interface MountedView {
  update(state: ViewState): void;
  /** The theme changed: redraw what is not plain CSS (canvas colours). */
  themeChanged(): void;
  destroy(): void;
}

const MOUNTERS: Record<ViewName, { title: string; mount: (container: HTMLElement, state: ViewState) => MountedView; inNav?: false }> = {
  graph: { title: 'Traffic graph', mount: mountGraphView },
  traces: { title: 'Traces', mount: mountTraceSearch },
  // Reached from a search result or a link with the trace id: no nav entry of its own.
  trace: { title: 'Trace', mount: mountTraceView, inNav: false },
};

function boot(): void {
  const root = document.getElementById('app')!;
  root.replaceChildren();
  const header = document.createElement('header');
  header.className = 'topbar';
  const brand = document.createElement('div');
  brand.className = 'brand';
  brand.innerHTML = 'mesh<span>lens</span>';
  const nav = document.createElement('nav');
  nav.className = 'views';
  nav.setAttribute('aria-label', 'Views');
  for (const [name, entry] of Object.entries(MOUNTERS)) {
    if (entry.inNav === false) continue;
    const link = document.createElement('a');
    link.href = `?view=${name}`;
    link.textContent = entry.title;
    link.dataset.view = name;
    link.addEventListener('click', (event) => {
      event.preventDefault();
      navigate({ view: name as ViewName, selected: null, focus: '' });
    });
    nav.append(link);
  }
  const spacer = document.createElement('div');
  spacer.className = 'spacer';
  const themeButton = document.createElement('button');
  themeButton.type = 'button';
  themeButton.className = 'theme-toggle';
  const labelTheme = () => {
    const dark = effectiveTheme() === 'dark';
    themeButton.textContent = dark ? '☀ Light theme' : '☾ Dark theme';
    themeButton.setAttribute('aria-label', dark ? 'Switch to the light theme' : 'Switch to the dark theme');
  };
  header.append(brand, nav, spacer, themeButton);
  const main = document.createElement('main');
  main.className = 'view';
  root.append(header, main);

  let state = currentState();
  applyTheme(state.theme);
  labelTheme();
  let mountedName: ViewName = state.view;
  let mounted = MOUNTERS[state.view].mount(main, state);
  // The trace view counts as part of the trace explorer in the nav.
  const markCurrent = () => nav.querySelectorAll('a').forEach((a) => (a.dataset.view === (state.view === 'trace' ? 'traces' : state.view) ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current')));
  markCurrent();
  document.title = `${MOUNTERS[state.view].title} · meshlens`;

  const themeChanged = () => {
    labelTheme();
    mounted.themeChanged();
  };
  themeButton.addEventListener('click', () => {
    toggleTheme();
    // The stored choice now rules; a theme forced by the link would undo it on the next navigation.
    if (state.theme !== 'auto') navigate({ theme: 'auto' }, 'replace');
    themeChanged();
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', themeChanged);

  onStateChange((next) => {
    const themeBefore = effectiveTheme();
    state = next;
    applyTheme(next.theme);
    if (effectiveTheme() !== themeBefore) themeChanged();
    const view: ViewName = next.view;
    const entry = MOUNTERS[view];
    if (view !== mountedName) {
      mounted.destroy();
      main.replaceChildren();
      mountedName = view;
      mounted = entry.mount(main, next);
    } else {
      mounted.update(next);
    }
    markCurrent();
    document.title = `${MOUNTERS[next.view].title} · meshlens`;
  });
}

boot();
