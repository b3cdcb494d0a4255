// The plugin's three editors, as Grafana mounts them, for test/grafana/editors.test.ts: each one controlled by
// a small host that keeps the value in state (Grafana re-renders an editor with what its onChange gave) and
// records every call on window.editorCalls for the test to read.
import type { DataSourceSettings } from '@grafana/data';
import { ThemeContext, createTheme } from '@grafana/data';
import { GlobalStyles } from '@grafana/ui';
import * as React from 'react';
import { createRoot } from 'react-dom/client';
import { ConfigEditor } from '../../../ui/grafana-datasource/src/ConfigEditor.tsx';
import type { MeshlensDataSource } from '../../../ui/grafana-datasource/src/datasource.ts';
import { QueryEditor } from '../../../ui/grafana-datasource/src/QueryEditor.tsx';
import type { MeshlensOptions, MeshlensQuery, MeshlensSecureOptions } from '../../../ui/grafana-datasource/src/types.ts';
import { VariableQueryEditor } from '../../../ui/grafana-datasource/src/VariableQueryEditor.tsx';

type Settings = DataSourceSettings<MeshlensOptions, MeshlensSecureOptions>;

export interface EditorCalls {
  options: Settings[];
  queries: MeshlensQuery[];
  runQuery: number;
  variable: Array<{ query: { query: string }; definition: string }>;
}

declare global {
  interface Window {
    editorCalls: EditorCalls;
  }
}

const calls: EditorCalls = { options: [], queries: [], runQuery: 0, variable: [] };
window.editorCalls = calls;

// The start state comes from the page URL (?authConfigured=1 → an auth header already saved), so one
// bundle serves every case.
const params = new URLSearchParams(location.search);

// What Grafana passes for a data source being edited (the fields DataSourceSettings requires).
const initialOptions: Settings = {
  id: 1,
  uid: 'meshlens',
  orgId: 1,
  name: 'meshlens',
  type: 'meshlens-meshlens-datasource',
  typeName: 'meshlens',
  typeLogoUrl: '',
  access: 'proxy',
  url: '',
  user: '',
  database: '',
  basicAuth: false,
  basicAuthUser: '',
  isDefault: false,
  withCredentials: false,
  readOnly: false,
  jsonData: {},
  secureJsonFields: params.get('authConfigured') === '1' ? { authHeader: true } : {},
};

function ConfigHost() {
  const [options, setOptions] = React.useState(initialOptions);
  return (
    <ConfigEditor
      options={options}
      onOptionsChange={(next) => {
        calls.options.push(next);
        setOptions(next);
      }}
    />
  );
}

// The query editor never touches its data source, so it gets none: building a real one would pull in
// @grafana/runtime, which reads Grafana's boot data (window.grafanaBootData) at load time.
const NO_DATASOURCE = undefined as unknown as MeshlensDataSource;

function QueryHost() {
  const [query, setQuery] = React.useState<MeshlensQuery>({ refId: 'A', queryType: 'serviceGraph', signal: 'all', graphMainStat: 'rps' });
  return (
    <QueryEditor
      datasource={NO_DATASOURCE}
      query={query}
      onChange={(next) => {
        calls.queries.push(next);
        setQuery(next);
      }}
      onRunQuery={() => {
        calls.runQuery += 1;
      }}
    />
  );
}

function VariableHost() {
  const [query, setQuery] = React.useState<{ query: string }>({ query: 'services' });
  return (
    <VariableQueryEditor
      query={query}
      onChange={(next, definition) => {
        calls.variable.push({ query: next, definition });
        setQuery(next);
      }}
    />
  );
}

// Grafana's app puts its theme in ThemeContext above every plugin component, and its global styles on the
// page (border-box sizing, fieldset reset, body colours, fonts); @grafana/ui's components assume both.
const theme = createTheme({ colors: { mode: params.get('theme') === 'dark' ? 'dark' : 'light' } });

createRoot(document.getElementById('root')!).render(
  <ThemeContext.Provider value={theme}>
    <GlobalStyles />
    <section data-editor="config" style={{ padding: 16, width: 760 }}>
      <ConfigHost />
    </section>
    <section data-editor="query" style={{ padding: 16, width: 1000 }}>
      <QueryHost />
    </section>
    <section data-editor="variable" style={{ padding: 16, width: 760 }}>
      <VariableHost />
    </section>
    <div data-harness="ready" />
  </ThemeContext.Provider>,
);
