// Data source settings: meshlens' query URL (jsonData.url, where the proxy route points) and an optional
// Authorization header value, kept encrypted in secureJsonData and only added by Grafana's proxy.
import type { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { InlineField, Input, SecretInput } from '@grafana/ui';
import * as React from 'react';
import type { ChangeEvent } from 'react';
import type { MeshlensOptions, MeshlensSecureOptions } from './types.ts';

type Props = DataSourcePluginOptionsEditorProps<MeshlensOptions, MeshlensSecureOptions>;

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData, secureJsonFields } = options;
  const secureJsonData = (options.secureJsonData ?? {}) as MeshlensSecureOptions;
  return (
    <>
      <InlineField label="URL" labelWidth={16} tooltip="meshlens' query port as the Grafana server reaches it, e.g. http://meshlens:16686" interactive>
        <Input
          width={48}
          placeholder="http://meshlens:16686"
          value={jsonData.url ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => onOptionsChange({ ...options, jsonData: { ...jsonData, url: e.target.value } })}
          // Trailing slashes go once the URL is typed: stripping them on each keystroke ate the ones in `http://`.
          onBlur={() => {
            const url = jsonData.url?.replace(/\/+$/, '');
            if (url !== jsonData.url) onOptionsChange({ ...options, jsonData: { ...jsonData, url } });
          }}
        />
      </InlineField>
      <InlineField label="Auth header" labelWidth={16} tooltip="Optional Authorization header value (e.g. Bearer …) for a proxy in front of meshlens; stored encrypted">
        <SecretInput
          width={48}
          placeholder="Bearer …"
          isConfigured={Boolean(secureJsonFields?.['authHeader'])}
          value={secureJsonData.authHeader ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => onOptionsChange({ ...options, secureJsonData: { ...secureJsonData, authHeader: e.target.value } })}
          onReset={() =>
            onOptionsChange({ ...options, secureJsonFields: { ...secureJsonFields, authHeader: false }, secureJsonData: { ...secureJsonData, authHeader: '' } })
          }
        />
      </InlineField>
    </>
  );
}
