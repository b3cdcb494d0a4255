// The meshlens command: `meshlens [all-in-one|collector|query] [--config file] [flags]`.
import { ConfigError, FLAGS, configKeys, envName, loadConfig } from '../collector/config.ts';
import { openStore } from '../collector/storage/open.ts';
import { DEMO_SIGNALS, startDemo } from './demo.ts';
import { type Command, createLogger, startMeshlens } from './run.ts';

const COMMANDS: Command[] = ['all-in-one', 'collector', 'query'];

const USAGE = `usage: meshlens [all-in-one|collector|query|demo] [--config meshlens.yaml] [flags]

  all-in-one   collector + query API in one process on embedded ClickHouse (default)
  collector    receivers only; needs --clickhouse-url
  query        query API only; needs --clickhouse-url
  demo         all-in-one (data in ./data-demo) plus a simulated bookinfo mesh sending OTLP and Zipkin
               spans, DogStatsD and a Prometheus endpoint through the real receivers; open the UI
  sql "QUERY"  run one SQL query against meshlens' storage and print the rows as JSON
               (embedded: only while no meshlens process is using the data directory)

flags:
  --config FILE        YAML configuration file (or MESHLENS_CONFIG)
${Object.entries(FLAGS).map(([flag, key]) => `  ${flag.padEnd(20)} ${key}`).join('\n')}
  --set KEY=VALUE      any configuration key, e.g. --set batch.max_rows=50000
  --print-config       print the resolved configuration and exit
  --help               this text

every key is also an environment variable: ${configKeys().slice(0, 2).map((k) => envName(k.path)).join(', ')}, ...`;

interface Args {
  command: Command;
  /** `meshlens sql "<query>"`. */
  sql?: string;
  /** `meshlens demo`: all-in-one plus the simulated mesh (bin/demo.ts). */
  demo: boolean;
  file?: string;
  overrides: Record<string, string>;
  printConfig: boolean;
}

function parseArgs(argv: string[]): Args | 'help' {
  const args: Args = { command: 'all-in-one', demo: false, overrides: {}, printConfig: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError(`flag ${flag} needs a value`);
      return v;
    };
    if (flag === '--help' || flag === '-h') return 'help';
    else if (flag === '--print-config') args.printConfig = true;
    else if (flag === '--config') args.file = value();
    else if (flag === '--set') {
      const pair = value();
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new ConfigError(`--set needs KEY=VALUE, got "${pair}"`);
      args.overrides[pair.slice(0, eq)] = pair.slice(eq + 1);
    } else if (flag in FLAGS) args.overrides[FLAGS[flag]!] = value();
    else if ((COMMANDS as string[]).includes(arg) && i === 0) args.command = arg as Command;
    else if (arg === 'demo' && i === 0) args.demo = true;
    else if (arg === 'sql' && i === 0) {
      args.sql = argv[++i];
      if (!args.sql) throw new ConfigError('meshlens sql needs a query, e.g. meshlens sql "SHOW TABLES"');
    }
    else throw new ConfigError(`unknown argument "${arg}" (see meshlens --help)`);
  }
  return args;
}

async function main(): Promise<void> {
  let args: Args | 'help';
  let config;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args === 'help') {
      console.log(USAGE);
      return;
    }
    // The demo keeps its data apart from a real ./data and scrapes often, so edges show within a minute.
    const demoDefaults: Record<string, string> = args.demo ? { 'storage.data_dir': './data-demo', 'scrape.interval': '5s', 'scrape.timeout': '4s' } : {};
    config = loadConfig({ file: args.file, overrides: { ...demoDefaults, ...args.overrides } });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`meshlens: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  if (args.printConfig) {
    const shown = structuredClone(config);
    if (shown.storage.clickhouse.password) shown.storage.clickhouse.password = '(set)';
    console.log(JSON.stringify(shown, null, 2));
    return;
  }
  if (args.sql !== undefined) {
    await runSql(config.storage, args.sql);
    return;
  }
  const log = createLogger(config.log.level);
  let running;
  try {
    if (args.demo) {
      const demo = await startDemo({ config, log });
      console.log(`meshlens demo: open ${demo.uiUrl} — a simulated bookinfo mesh sends ${DEMO_SIGNALS.join(', ')} (Ctrl-C stops)`);
      running = { stop: () => demo.stop() };
    } else running = await startMeshlens(args.command, config, log);
  } catch (error) {
    log.fatal(`meshlens could not start: ${String((error as Error).message).split('\n')[0]}`);
    process.exit(1);
  }
  let signals = 0;
  const shutdown = (signal: string) => {
    if (++signals > 1) {
      log.warn(`${signal} again: exiting now without waiting for pending writes`);
      process.exit(130);
    }
    log.info(`${signal} received`);
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

async function runSql(storage: Parameters<typeof openStore>[0], sql: string): Promise<void> {
  let store;
  try {
    store = openStore(storage);
    for (const row of await store.query(sql)) console.log(JSON.stringify(row));
  } catch (error) {
    console.error(`meshlens sql: ${String((error as Error).message).split('\n')[0]}`);
    process.exitCode = 1;
  } finally {
    await store?.close();
  }
}

await main();
