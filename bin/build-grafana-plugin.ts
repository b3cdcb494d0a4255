// Builds the Grafana data-source plugin (ui/grafana-datasource/src → ui/grafana-datasource/dist) and zips it
// as Grafana's plugin installer expects (one top-level folder named by the plugin id):
//   dist/module.js    the bundle, UMD: Grafana's SystemJS loader takes its AMD branch (`define([...], f)`)
//   dist/plugin.json  with version and date filled in
//   dist/img/, dist/README.md
//   meshlens-meshlens-datasource-<version>.zip beside dist/
// Grafana provides its own copies of @grafana/*, React, rxjs, lodash and emotion to plugins, so those stay
// external (the list follows @grafana/create-plugin's webpack externals). JSX uses the classic runtime
// (React.createElement): a bundled `react/jsx-runtime` from our React would not match the host's React.
// `node --import tsx bin/build-grafana-plugin.ts` (also `npm run build:grafana`).
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';

export const PLUGIN_ROOT = fileURLToPath(new URL('../ui/grafana-datasource/', import.meta.url));
export const PLUGIN_DIST = join(PLUGIN_ROOT, 'dist');
const SOURCE = join(PLUGIN_ROOT, 'src');

/** What Grafana hands to plugins at run time (module ids a plugin bundle may import). */
export const GRAFANA_PROVIDED = ['@grafana/data', '@grafana/runtime', '@grafana/ui', '@grafana/schema', 'react', 'react-dom', 'rxjs', 'lodash', '@emotion/css', '@emotion/react'];

interface PluginJson {
  id: string;
  info: { version: string; updated: string };
}

export async function buildGrafanaPlugin(options: { quiet?: boolean } = {}): Promise<{ dist: string; zip: string }> {
  const version = (JSON.parse(readFileSync(join(PLUGIN_ROOT, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  const vite = await import('vite');
  rmSync(PLUGIN_DIST, { recursive: true, force: true });
  await vite.build({
    configFile: false,
    root: PLUGIN_ROOT,
    logLevel: options.quiet ? 'warn' : 'info',
    oxc: { jsx: { runtime: 'classic' } },
    build: {
      outDir: PLUGIN_DIST,
      emptyOutDir: true,
      target: 'es2022',
      minify: true,
      sourcemap: true,
      copyPublicDir: false,
      lib: { entry: join(SOURCE, 'module.ts'), formats: ['umd'], name: 'meshlensDatasource', fileName: () => 'module.js' },
      rolldownOptions: {
        external: (id: string) => GRAFANA_PROVIDED.some((m) => id === m || id.startsWith(`${m}/`)),
        output: { globals: Object.fromEntries(GRAFANA_PROVIDED.map((m) => [m, m])) },
      },
    },
  });

  const pluginJson = JSON.parse(readFileSync(join(SOURCE, 'plugin.json'), 'utf8')) as PluginJson;
  pluginJson.info.version = version;
  pluginJson.info.updated = new Date().toISOString().slice(0, 10);
  writeFileSync(join(PLUGIN_DIST, 'plugin.json'), `${JSON.stringify(pluginJson, null, 2)}\n`);
  cpSync(join(SOURCE, 'img'), join(PLUGIN_DIST, 'img'), { recursive: true });
  cpSync(join(SOURCE, 'README.md'), join(PLUGIN_DIST, 'README.md'));

  const zip = join(PLUGIN_ROOT, `${pluginJson.id}-${version}.zip`);
  writeFileSync(zip, zipDirectory(PLUGIN_DIST, pluginJson.id));
  return { dist: PLUGIN_DIST, zip };
}

// ---- a minimal zip writer (deflate, no extras): enough for Grafana's installer and `unzip` ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every file under `dir`, stored under `folder/` in the archive. */
export function zipDirectory(dir: string, folder: string): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const path of filesUnder(dir).sort()) {
    const name = Buffer.from(`${folder}/${relative(dir, path).split('\\').join('/')}`);
    const data = readFileSync(path);
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    // Version needed 2.0, no flags, method 8 (deflate), fixed DOS date 1980-01-01 00:00 (reproducible).
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, packed);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by: Unix, 2.0 (so the mode below is read)
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt16LE(DOS_DATE_1980_01_01, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildGrafanaPlugin().then(
    ({ dist, zip }) => {
      if (!existsSync(join(dist, 'module.js'))) throw new Error('module.js was not written');
      console.log(`Grafana plugin built: ${relative(process.cwd(), dist)}/ and ${relative(process.cwd(), zip)}`);
    },
    (error: Error) => {
      console.error(`build:grafana failed: ${error.message}`);
      process.exitCode = 1;
    },
  );
}
