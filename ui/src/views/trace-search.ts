// The trace explorer: a search form (service, operation, tags, duration range, time range, limit) over the
// Jaeger-compatible API, a duration-over-time scatter plot of the results (a dot opens its trace) and the
// result list. Every field of the form lives in the URL (view=traces&service=…), so a link reruns the search.
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear, scaleTime } from 'd3-scale';
import { select } from 'd3-selection';
import { ApiError } from '../api.ts';
import type { MountedView } from '../main.ts';
import { el, formatAge, svgEl, toLocalInput } from '../traces/dom.ts';
import { type TraceSearch, fetchOperations, fetchServices, isGoDuration, parseTagFilter, searchTraces } from '../traces/jaeger-api.ts';
import { type TraceSummary, summarize } from '../traces/tree.ts';
import { formatDuration, serviceColours } from '../traces/waterfall.ts';
import { RANGES, type RangeName, TRACE_LIMITS, type TraceSearchState, type ViewState, formatState, navigate, windowOf } from '../url-state.ts';
import '../traces/traces.css';

const PLOT_HEIGHT = 190;

/** The search's window in ms: its own start/end, else the view's time range ending now. */
export function searchWindow(state: ViewState, now: number): { start: number; end: number } {
  const search = state.traceSearch;
  return search.start !== null && search.end !== null ? { start: search.start, end: search.end } : windowOf(state.time, now);
}

export function mountTraceSearch(container: HTMLElement, initial: ViewState): MountedView {
  let state = initial;

  // ---- form ----------------------------------------------------------------------------------------------
  const serviceSelect = el('select', { id: 'ts-service', name: 'service' });
  const operationSelect = el('select', { id: 'ts-operation', name: 'operation' });
  const tagsInput = el('input', { id: 'ts-tags', name: 'tags', type: 'text', placeholder: 'error=true http.status_code=500', spellcheck: 'false', autocomplete: 'off' });
  const minInput = el('input', { id: 'ts-min', name: 'minDuration', type: 'text', placeholder: 'e.g. 100ms', size: '8', autocomplete: 'off' });
  const maxInput = el('input', { id: 'ts-max', name: 'maxDuration', type: 'text', placeholder: 'e.g. 2s', size: '8', autocomplete: 'off' });
  const rangeSelect = el('select', { id: 'ts-range', name: 'range' });
  for (const name of Object.keys(RANGES)) rangeSelect.append(el('option', { value: name }, `last ${name}`));
  rangeSelect.append(el('option', { value: 'custom' }, 'custom…'));
  const fromInput = el('input', { type: 'datetime-local', 'aria-label': 'From' });
  const toInput = el('input', { type: 'datetime-local', 'aria-label': 'To' });
  const customGroup = el('div', { class: 'ts-custom' }, fromInput, toInput);
  const limitSelect = el('select', { id: 'ts-limit', name: 'limit' });
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Find traces');
  const formError = el('p', { class: 'ts-form-error', role: 'alert' });
  formError.hidden = true;
  const field = (id: string, label: string, control: HTMLElement, hint?: string) => el('div', { class: 'ts-field' }, el('label', { for: id }, label), control, ...(hint ? [el('small', {}, hint)] : []));
  const form = el(
    'form',
    { class: 'ts-form', 'aria-label': 'Search traces' },
    el('h2', {}, 'Search traces'),
    field('ts-service', 'Service', serviceSelect),
    field('ts-operation', 'Operation', operationSelect),
    field('ts-tags', 'Tags', tagsInput, 'key=value pairs, space-separated; quote values with spaces'),
    el('div', { class: 'ts-field ts-durations' }, el('label', { for: 'ts-min' }, 'Duration'), el('div', {}, minInput, el('span', { 'aria-hidden': 'true' }, '–'), maxInput), el('small', {}, 'min – max, e.g. 100ms, 1.5s, 500us')),
    field('ts-range', 'Time range', rangeSelect),
    customGroup,
    field('ts-limit', 'Limit results', limitSelect),
    formError,
    submit,
  );
  maxInput.setAttribute('aria-label', 'Maximum duration');
  minInput.setAttribute('aria-label', 'Minimum duration');

  // ---- results -------------------------------------------------------------------------------------------
  const status = el('div', { class: 'ts-status status', role: 'status', 'aria-live': 'polite' });
  const plot = svgEl('svg', { class: 'ts-plot', role: 'img', 'aria-label': 'Trace durations over time' });
  const plotBox = el('div', { class: 'ts-plot-box' }, plot);
  const list = el('ol', { class: 'ts-results', 'aria-label': 'Traces found' });
  const message = el('div', { class: 'ts-message' });
  const results = el('section', { class: 'ts-main', 'data-state': 'loading', 'aria-label': 'Search results' }, status, plotBox, message, list);
  const root = el('div', { class: 'trace-search' }, form, results);
  container.append(root);

  // ---- data ------------------------------------------------------------------------------------------------
  let services: string[] | null = null;
  let operationsFor = '';
  let summaries: TraceSummary[] = [];
  let searchController: AbortController | null = null;
  let searchKey = '';

  async function loadServices(): Promise<void> {
    try {
      services = (await fetchServices()).sort();
    } catch {
      services = [];
    }
    syncServiceOptions();
  }

  function syncServiceOptions(): void {
    const wanted = ['', ...(services ?? [])];
    if (state.traceSearch.service && !wanted.includes(state.traceSearch.service)) wanted.push(state.traceSearch.service);
    serviceSelect.replaceChildren(...wanted.map((name) => el('option', { value: name }, name === '' ? (services === null ? 'loading services…' : 'all services') : name)));
    serviceSelect.value = state.traceSearch.service;
  }

  async function loadOperations(service: string): Promise<void> {
    operationsFor = service;
    const chosen = state.traceSearch.operation;
    let operations: string[] = [];
    if (service !== '') {
      try {
        operations = (await fetchOperations(service)).sort();
      } catch {
        operations = [];
      }
    }
    if (operationsFor !== service) return;
    const wanted = ['', ...operations];
    if (chosen && !wanted.includes(chosen)) wanted.push(chosen);
    operationSelect.replaceChildren(...wanted.map((name) => el('option', { value: name }, name === '' ? 'all operations' : name)));
    operationSelect.value = chosen;
  }

  async function search(): Promise<void> {
    searchController?.abort();
    const controller = new AbortController();
    searchController = controller;
    const form = state.traceSearch;
    const tags = parseTagFilter(form.tags);
    if ('error' in tags) return showError(new ApiError(tags.error, 'Fix the tags field: e.g. error=true http.status_code=500', null));
    for (const [name, value] of [['minimum duration', form.minDuration], ['maximum duration', form.maxDuration]] as const) {
      if (value && !isGoDuration(value)) return showError(new ApiError(`the ${name} "${value}" is not a duration`, 'Write durations like 100ms, 1.5s, 500us or 1m30s.', null));
    }
    const window = searchWindow(state, Date.now());
    const query: TraceSearch = { service: form.service, operation: form.operation, tags: tags.tags, minDuration: form.minDuration, maxDuration: form.maxDuration, start: window.start, end: window.end, limit: form.limit };
    results.dataset.state = 'loading';
    status.textContent = 'Searching…';
    try {
      const traces = await searchTraces(query, controller.signal);
      if (controller.signal.aborted) return;
      summaries = traces.map(summarize).sort((a, b) => b.startUs - a.startUs);
      renderResults(window);
    } catch (error) {
      if (controller.signal.aborted || (error as Error).name === 'AbortError') return;
      showError(error instanceof ApiError ? error : new ApiError(String((error as Error).message), 'Reload the page; if it persists, report it with the browser console output.', null));
    }
  }

  function showError(error: ApiError): void {
    results.dataset.state = 'error';
    summaries = [];
    list.replaceChildren();
    plot.replaceChildren();
    plotBox.hidden = true;
    status.textContent = '';
    const retry = el('button', { type: 'button' }, 'Retry');
    retry.addEventListener('click', () => void search());
    message.replaceChildren(el('div', { class: 'message error', role: 'alert' }, el('p', {}, el('strong', {}, error.message)), el('p', {}, error.hint), retry));
  }

  function renderResults(window: { start: number; end: number }): void {
    message.replaceChildren();
    const allServices = [...new Set(summaries.flatMap((s) => s.services.map((x) => x.name)))].sort();
    const colours = serviceColours(allServices);
    if (summaries.length === 0) {
      results.dataset.state = 'empty';
      plotBox.hidden = true;
      list.replaceChildren();
      status.textContent = '';
      const widen = el('button', { type: 'button' }, 'Search the last 24 hours');
      widen.addEventListener('click', () => navigate({ time: { kind: 'relative', range: '24h' }, traceSearch: { ...state.traceSearch, start: null, end: null } }));
      const filtered = state.traceSearch.operation !== '' || state.traceSearch.tags !== '' || state.traceSearch.minDuration !== '' || state.traceSearch.maxDuration !== '';
      message.append(
        el(
          'div',
          { class: 'message empty', role: 'status' },
          el('p', {}, el('strong', {}, 'No traces match this search.')),
          el('p', {}, 'Widen the time range', filtered ? ', drop the operation, tag or duration filters' : '', ', or check that services send spans to ', el('code', {}, '4317'), ' (OTLP gRPC) or ', el('code', {}, '4318'), ' (OTLP HTTP).'),
          widen,
        ),
      );
      return;
    }
    results.dataset.state = 'ready';
    status.textContent = `${summaries.length} trace${summaries.length === 1 ? '' : 's'}${summaries.length >= state.traceSearch.limit ? ` (the limit: raise it to see more)` : ''} · ${new Date(window.start).toLocaleString()} – ${new Date(window.end).toLocaleString()}`;
    plotBox.hidden = false;
    drawPlot(colours);
    const longest = Math.max(...summaries.map((s) => s.durationUs), 1);
    const now = Date.now();
    list.replaceChildren(
      ...summaries.map((summary) => {
        const link = el('a', { href: linkTo(summary.traceId), class: 'ts-result', 'data-trace-id': summary.traceId, 'data-span-count': String(summary.spanCount) });
        link.addEventListener('click', (event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          openTrace(summary.traceId);
        });
        const startMs = summary.startUs / 1000;
        link.append(
          el(
            'div',
            { class: 'ts-result-head' },
            el('span', { class: 'ts-root' }, el('span', { class: 'swatch', style: `background:${colours.get(summary.rootService)}` }), `${summary.rootService}: `, el('strong', {}, summary.rootOperation || '(no root span)')),
            el('span', { class: 'ts-id' }, summary.traceId.replace(/^0+(?=.{16})/, '').slice(0, 16)),
            el('span', { class: 'ts-duration' }, formatDuration(summary.durationUs)),
          ),
          el('div', { class: 'ts-duration-bar', 'aria-hidden': 'true' }, el('span', { style: `width:${((summary.durationUs / longest) * 100).toFixed(2)}%` })),
          el(
            'div',
            { class: 'ts-result-meta' },
            el('span', {}, `${summary.spanCount} span${summary.spanCount === 1 ? '' : 's'}`),
            summary.errorCount > 0 ? el('span', { class: 'ts-errors' }, `${summary.errorCount} error${summary.errorCount === 1 ? '' : 's'}`) : el('span', { class: 'muted' }, 'no errors'),
            el('span', { class: 'ts-services' }, ...summary.services.map((s) => el('span', { class: 'chip', title: `${s.spans} span(s) of ${s.name}` }, el('span', { class: 'swatch', style: `background:${colours.get(s.name)}` }), `${s.name} ${s.spans}`))),
            el('time', { datetime: new Date(startMs).toISOString(), title: new Date(startMs).toLocaleString() }, `${new Date(startMs).toLocaleTimeString()} · ${formatAge(startMs, now)}`),
          ),
        );
        return el('li', {}, link);
      }),
    );
  }

  function drawPlot(colours: Map<string, string>): void {
    const width = Math.max(plotBox.clientWidth, 320);
    const margin = { top: 12, right: 18, bottom: 26, left: 56 };
    plot.setAttribute('viewBox', `0 0 ${width} ${PLOT_HEIGHT}`);
    plot.setAttribute('width', String(width));
    plot.setAttribute('height', String(PLOT_HEIGHT));
    const times = summaries.map((s) => s.startUs / 1000);
    let [first, last] = [Math.min(...times), Math.max(...times)];
    // At least a few seconds wide, so ticks fall on whole seconds and read as clock times.
    const pad = Math.max((last - first) * 0.05, 5000);
    first -= pad;
    last += pad;
    const x = scaleTime().domain([first, last]).range([margin.left, width - margin.right]);
    const y = scaleLinear().domain([0, Math.max(...summaries.map((s) => s.durationUs / 1000)) * 1.1 || 1]).range([PLOT_HEIGHT - margin.bottom, margin.top]).nice();
    const svg = select(plot);
    svg.selectAll('*').remove();
    svg.append('g').attr('class', 'axis').attr('transform', `translate(0,${PLOT_HEIGHT - margin.bottom})`).call(axisBottom(x).ticks(Math.max(2, Math.floor(width / 120))).tickFormat((time) => (time as Date).toLocaleTimeString()));
    svg.append('g').attr('class', 'axis').attr('transform', `translate(${margin.left},0)`).call(axisLeft(y).ticks(5).tickFormat((ms) => (Number(ms) === 0 ? '0' : formatDuration(Number(ms) * 1000))));
    svg.append('text').attr('class', 'axis-title').attr('x', 4).attr('y', margin.top - 2).text('duration');
    // Longest first, so short traces' dots stay clickable on top.
    const order = [...summaries].sort((a, b) => b.spanCount - a.spanCount);
    for (const summary of order) {
      const radius = Math.min(11, 3 + Math.sqrt(summary.spanCount));
      const dot = svgEl('circle', {
        class: summary.errorCount > 0 ? 'dot error' : 'dot',
        cx: x(summary.startUs / 1000).toFixed(1),
        cy: y(summary.durationUs / 1000).toFixed(1),
        r: radius.toFixed(1),
        fill: colours.get(summary.rootService) ?? 'currentColor',
        'data-trace-id': summary.traceId,
      });
      dot.append(svgEl('title', {}, `${summary.rootService}: ${summary.rootOperation}\n${formatDuration(summary.durationUs)} · ${summary.spanCount} spans${summary.errorCount ? ` · ${summary.errorCount} errors` : ''}\n${new Date(summary.startUs / 1000).toLocaleString()}`));
      dot.addEventListener('click', () => openTrace(summary.traceId));
      plot.append(dot);
    }
  }

  const linkTo = (traceId: string) => formatState({ ...state, view: 'trace', traceId, spanId: '' }) || '?';
  const openTrace = (traceId: string) => navigate({ view: 'trace', traceId, spanId: '' });

  // ---- form → URL ----------------------------------------------------------------------------------------
  function readForm(): Partial<ViewState> | null {
    const next: TraceSearchState = {
      ...state.traceSearch,
      service: serviceSelect.value,
      operation: serviceSelect.value === state.traceSearch.service ? operationSelect.value : '',
      tags: tagsInput.value.trim(),
      minDuration: minInput.value.trim(),
      maxDuration: maxInput.value.trim(),
      limit: Number(limitSelect.value),
    };
    const problem = 'error' in parseTagFilter(next.tags) ? 'Tags: write key=value pairs separated by spaces.' : [next.minDuration, next.maxDuration].some((d) => d !== '' && !isGoDuration(d)) ? 'Durations: write e.g. 100ms, 1.5s or 500us.' : '';
    if (problem) {
      formError.textContent = problem;
      formError.hidden = false;
      return null;
    }
    formError.hidden = true;
    if (rangeSelect.value === 'custom') {
      const from = new Date(fromInput.value).getTime();
      const to = new Date(toInput.value).getTime();
      if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to) {
        formError.textContent = 'Time range: pick a start before the end.';
        formError.hidden = false;
        return null;
      }
      return { traceSearch: { ...next, start: from, end: to } };
    }
    return { traceSearch: { ...next, start: null, end: null }, time: { kind: 'relative', range: rangeSelect.value as RangeName } };
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const change = readForm();
    if (change === null) return;
    const before = formatState(state);
    navigate(change);
    // The same search again (a relative window has moved on): run it even though the URL did not change.
    if (formatState({ ...state, ...change }) === before) void search();
  });
  serviceSelect.addEventListener('change', () => void loadOperations(serviceSelect.value));
  rangeSelect.addEventListener('change', () => {
    customGroup.hidden = rangeSelect.value !== 'custom';
    if (rangeSelect.value === 'custom') {
      const window = searchWindow(state, Date.now());
      fromInput.value = toLocalInput(window.start);
      toInput.value = toLocalInput(window.end);
    }
  });
  const resizeObserver = new ResizeObserver(() => {
    if (results.dataset.state === 'ready') drawPlot(serviceColours([...new Set(summaries.flatMap((s) => s.services.map((x) => x.name)))].sort()));
  });
  resizeObserver.observe(plotBox);

  // ---- URL → form ----------------------------------------------------------------------------------------
  function applyState(next: ViewState): void {
    state = next;
    const form = next.traceSearch;
    syncServiceOptions();
    if (operationsFor !== form.service || ![...operationSelect.options].some((o) => o.value === form.operation)) void loadOperations(form.service);
    else operationSelect.value = form.operation;
    tagsInput.value = form.tags;
    minInput.value = form.minDuration;
    maxInput.value = form.maxDuration;
    const custom = form.start !== null || next.time.kind === 'absolute';
    rangeSelect.value = custom ? 'custom' : next.time.kind === 'relative' ? next.time.range : 'custom';
    customGroup.hidden = !custom;
    if (custom) {
      const window = searchWindow(next, Date.now());
      fromInput.value = toLocalInput(window.start);
      toInput.value = toLocalInput(window.end);
    }
    const limits: number[] = [...TRACE_LIMITS];
    if (!limits.includes(form.limit)) limits.push(form.limit);
    limitSelect.replaceChildren(...limits.sort((a, b) => a - b).map((n) => el('option', { value: String(n) }, String(n))));
    limitSelect.value = String(form.limit);
    const key = JSON.stringify([form, form.start === null ? next.time : null]);
    if (key !== searchKey) {
      searchKey = key;
      void search();
    }
  }

  void loadServices();
  applyState(initial);

  return {
    update: applyState,
    themeChanged: () => undefined,
    destroy: () => {
      searchController?.abort();
      resizeObserver.disconnect();
    },
  };
}

