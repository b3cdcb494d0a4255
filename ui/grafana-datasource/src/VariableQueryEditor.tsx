// Template variable query: services, namespaces or nodes, optionally within one namespace.
import { InlineField, Input } from '@grafana/ui';
import * as React from 'react';
import type { ChangeEvent } from 'react';

interface Props {
  query: string | { query?: string };
  onChange: (query: { query: string }, definition: string) => void;
}

export function VariableQueryEditor({ query, onChange }: Props) {
  const value = typeof query === 'string' ? query : (query.query ?? '');
  return (
    <InlineField label="Query" labelWidth={12} tooltip="services, namespaces or nodes; optionally services(<namespace>), e.g. services($namespace)">
      <Input width={40} placeholder="services" defaultValue={value} onBlur={(e: ChangeEvent<HTMLInputElement>) => onChange({ query: e.target.value }, e.target.value)} />
    </InlineField>
  );
}
