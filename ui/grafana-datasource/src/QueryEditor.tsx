// Query editor: the query type, then the fields that type reads.
import type { QueryEditorProps, SelectableValue } from '@grafana/data';
import { InlineField, InlineFieldRow, Input, RadioButtonGroup, Select } from '@grafana/ui';
import * as React from 'react';
import type { ChangeEvent } from 'react';
import type { MeshlensDataSource } from './datasource.ts';
import { type GraphMainStat, type MeshlensOptions, type MeshlensQuery, type MeshlensQueryType, type MeshlensSignal, SIGNALS } from './types.ts';

type Props = QueryEditorProps<MeshlensDataSource, MeshlensQuery, MeshlensOptions>;

const QUERY_TYPE_OPTIONS: Array<SelectableValue<MeshlensQueryType>> = [
  { value: 'serviceGraph', label: 'Service graph', description: 'Node graph of the mesh' },
  { value: 'red', label: 'RED', description: 'Requests, errors, p50/p95/p99 over time' },
  { value: 'latency', label: 'Latency histogram' },
  { value: 'latencyHeatmap', label: 'Latency heatmap' },
  { value: 'traceSearch', label: 'Trace search' },
  { value: 'traceId', label: 'Trace by id' },
];
const SIGNAL_OPTIONS: Array<SelectableValue<MeshlensSignal>> = SIGNALS.map((s) => ({ value: s, label: s }));
const MAIN_STAT_OPTIONS: Array<SelectableValue<GraphMainStat>> = [
  { value: 'rps', label: 'Requests/s' },
  { value: 'p95', label: 'p95' },
];

export function QueryEditor({ query, onChange, onRunQuery }: Props) {
  const queryType = query.queryType ?? 'serviceGraph';
  const set = (patch: Partial<MeshlensQuery>, run = false) => {
    onChange({ ...query, ...patch });
    if (run) onRunQuery();
  };
  const text = (key: 'namespace' | 'service' | 'source' | 'target' | 'operation' | 'traceId' | 'tags' | 'minDuration' | 'maxDuration' | 'step', label: string, placeholder: string, width = 24) => (
    <InlineField label={label} labelWidth={12}>
      <Input
        width={width}
        placeholder={placeholder}
        value={query[key] ?? ''}
        onChange={(e: ChangeEvent<HTMLInputElement>) => set({ [key]: e.target.value })}
        onBlur={onRunQuery}
      />
    </InlineField>
  );
  const signal = (
    <InlineField label="Signal" labelWidth={12}>
      <Select width={20} options={SIGNAL_OPTIONS} value={query.signal ?? 'all'} onChange={(v) => set({ signal: v.value ?? 'all' }, true)} />
    </InlineField>
  );
  const subject = (
    <>
      <InlineFieldRow>
        {text('service', 'Service', 'name or ns/name; $service')}
        {text('operation', 'Operation', 'optional span name')}
      </InlineFieldRow>
      <InlineFieldRow>
        {text('source', 'Edge from', 'node id (instead of service)')}
        {text('target', 'Edge to', 'node id')}
      </InlineFieldRow>
    </>
  );
  return (
    <>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={12}>
          <Select width={24} options={QUERY_TYPE_OPTIONS} value={queryType} onChange={(v) => set({ queryType: v.value ?? 'serviceGraph' }, true)} />
        </InlineField>
        {queryType !== 'traceId' && queryType !== 'traceSearch' && signal}
      </InlineFieldRow>
      {queryType === 'serviceGraph' && (
        <InlineFieldRow>
          {text('namespace', 'Namespace', 'all; $namespace')}
          {text('service', 'Focus', 'node id or name: it and its neighbours')}
          <InlineField label="Main stat" labelWidth={12}>
            <RadioButtonGroup options={MAIN_STAT_OPTIONS} value={query.graphMainStat ?? 'rps'} onChange={(v) => set({ graphMainStat: v }, true)} />
          </InlineField>
        </InlineFieldRow>
      )}
      {(queryType === 'red' || queryType === 'latency' || queryType === 'latencyHeatmap') && subject}
      {(queryType === 'red' || queryType === 'latencyHeatmap') && <InlineFieldRow>{text('step', 'Step', 'auto (e.g. 1m, 5m)', 16)}</InlineFieldRow>}
      {queryType === 'traceSearch' && (
        <>
          <InlineFieldRow>
            {text('service', 'Service', 'any')}
            {text('operation', 'Operation', 'any')}
            {/* Empty means the default (20): snapping an emptied field back to 20 kept users from retyping it. */}
            <InlineField label="Limit" labelWidth={12}>
              <Input
                width={10}
                type="number"
                min={1}
                placeholder="20"
                value={query.limit ?? ''}
                onChange={(e: ChangeEvent<HTMLInputElement>) => {
                  const limit = Number(e.target.value);
                  set({ limit: limit > 0 ? limit : undefined });
                }}
                onBlur={onRunQuery}
              />
            </InlineField>
          </InlineFieldRow>
          <InlineFieldRow>
            {text('tags', 'Tags', 'http.status_code=500 error=true', 36)}
            {text('minDuration', 'Min duration', '100ms', 12)}
            {text('maxDuration', 'Max duration', '1.5s', 12)}
          </InlineFieldRow>
        </>
      )}
      {queryType === 'traceId' && <InlineFieldRow>{text('traceId', 'Trace ID', '32 hex digits', 40)}</InlineFieldRow>}
    </>
  );
}
