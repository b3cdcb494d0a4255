// Builds the web UI (ui/ → ui/dist) when it is missing or older than its sources: `npm start` and
// `npm test` run this first, so a fresh clone shows the UI after `npm install && npm start`.
// `node --import tsx bin/build-ui.ts` builds only if needed; `--force` always builds.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UI_ROOT = fileURLToPath(new URL('../ui/', import.meta.url));
const BUILT_INDEX = join(UI_ROOT, 'dist', 'index.html');

/** Newest modification time (ms) of the files the build reads. */
function newestSource(): number {
  let newest = 0;
  const visit = (path: string) => {
    const info = statSync(path);
    if (info.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
    else if (!path.endsWith('.test.ts')) newest = Math.max(newest, info.mtimeMs);
  };
  for (const entry of ['index.html', 'vite.config.ts', 'src']) visit(join(UI_ROOT, entry));
  return newest;
}

export function uiBuildIsStale(): boolean {
  return !existsSync(BUILT_INDEX) || statSync(BUILT_INDEX).mtimeMs < newestSource();
}

/** Runs vite's build if the UI is missing or stale; returns whether it built. */
export async function ensureUiBuilt(options: { force?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  if (!options.force && !uiBuildIsStale()) return false;
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error('cannot build the web UI: vite is not installed (it is a dev dependency: run `npm install` without --omit=dev)');
  }
  await vite.build({ root: UI_ROOT, configFile: join(UI_ROOT, 'vite.config.ts'), logLevel: options.quiet ? 'warn' : 'info' });
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  ensureUiBuilt({ force }).then(
    (built) => {
      if (!built) console.log('web UI is up to date (ui/dist)');
    },
    (error: Error) => {
      console.error(`build:ui failed: ${error.message}`);
      process.exitCode = 1;
    },
  );
}
