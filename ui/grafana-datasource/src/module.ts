// Grafana loads dist/module.js and reads `plugin` from it.
import { DataSourcePlugin } from '@grafana/data';
import { ConfigEditor } from './ConfigEditor.tsx';
import { MeshlensDataSource } from './datasource.ts';
import { QueryEditor } from './QueryEditor.tsx';
import type { MeshlensOptions, MeshlensQuery, MeshlensSecureOptions } from './types.ts';
import { VariableQueryEditor } from './VariableQueryEditor.tsx';

export const plugin = new DataSourcePlugin<MeshlensDataSource, MeshlensQuery, MeshlensOptions, MeshlensSecureOptions>(MeshlensDataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor)
  .setVariableQueryEditor(VariableQueryEditor);
