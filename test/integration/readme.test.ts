// The README is the user's reference: every configuration key, with its environment variable, must be
// in its table, and the quick start must name the two commands CI and users rely on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { configKeys, envName } from '../../collector/config.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every configuration key with its environment variable', () => {
    const rows = readme.split('\n').filter((line) => line.startsWith('| `'));
    for (const { path } of configKeys()) {
      const row = rows.find((line) => line.startsWith(`| \`${path}\` |`));
      assert.ok(row, `README has no row for ${path}`);
      assert.ok(row.includes(envName(path)), `README row for ${path} does not name ${envName(path)}`);
    }
  });

  it('has the two-command quick start', () => {
    assert.match(readme, /npm install && npm start/);
    assert.match(readme, /^npm test\b/m);
  });
});
