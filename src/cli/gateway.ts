// `tollgate gateway --config F`: one gateway replica in the foreground (prints one line per listener
// once it accepts, `tollgate gateway: <name> listening on host:port`). SIGHUP re-reads the TLS
// certificate and key; SIGTERM/SIGINT drain (readiness fails at once, running work finishes) and exit 0.
// `tollgate gateway migrate --config F`: creates or upgrades the state store's schema (idempotent).
import { GatewayConfigError, loadGatewayConfig, type GatewayConfig } from '../gateway/config.js';
import { startGateway, type RunningGateway } from '../gateway/service.js';
import { Store, StoreError } from '../gateway/store.js';
import { LATEST_VERSION } from '../gateway/migrations.js';
import { parseFlags, stdio, type CliIO } from './args.js';

const USAGE = 'usage: tollgate gateway --config F.yml\n       tollgate gateway migrate --config F.yml';

export interface GatewayIo extends CliIO {
  env?: NodeJS.ProcessEnv;
  /** Installs the signal handlers; tests pass their own. */
  onSignals?: (handlers: { stop: () => void; reload: () => void }) => void;
}

const processSignals = (h: { stop: () => void; reload: () => void }): void => {
  process.once('SIGTERM', h.stop);
  process.once('SIGINT', h.stop);
  process.on('SIGHUP', h.reload);
};

export async function run(argv: string[], io: GatewayIo = stdio): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const migrate = argv[0] === 'migrate';
  const flags = parseFlags(migrate ? argv.slice(1) : argv, { string: ['config'] });
  if (!flags.config) {
    io.err('tollgate gateway: --config is required');
    io.err(USAGE);
    return 2;
  }
  let config: GatewayConfig;
  try {
    config = loadGatewayConfig(flags.config, io.env ?? process.env);
  } catch (err) {
    if (err instanceof GatewayConfigError) {
      io.err(`tollgate gateway: ${err.message}`);
      return 2;
    }
    throw err;
  }
  return migrate ? runMigrate(config, io) : serve(config, io);
}

async function runMigrate(config: GatewayConfig, io: CliIO): Promise<number> {
  const store = new Store(config.stateUrl);
  try {
    const applied = await store.migrate();
    io.out(applied.length ? `tollgate gateway: state store migrated to version ${LATEST_VERSION} (applied ${applied.join(', ')})` : `tollgate gateway: state store already at version ${LATEST_VERSION}`);
    return 0;
  } catch (err) {
    io.err(`tollgate gateway migrate: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
}

async function serve(config: GatewayConfig, io: GatewayIo): Promise<number> {
  let gw: RunningGateway;
  try {
    gw = await startGateway(config, { logger: { info: io.err, warn: io.err } });
  } catch (err) {
    io.err(`tollgate gateway: cannot start: ${err instanceof StoreError ? err.message : (err as Error).message}`);
    return 1;
  }
  const show = (l: { host: string; port: number }) => `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
  io.out(`tollgate gateway: http listening on ${show(gw.http)}`);
  io.out(`tollgate gateway: admin listening on ${show(gw.admin)}`);
  await new Promise<void>((resolve) =>
    (io.onSignals ?? processSignals)({
      stop: resolve,
      reload: () => {
        try {
          gw.reloadTls();
        } catch (err) {
          io.err(`tollgate gateway: TLS reload failed, keeping the previous certificate: ${(err as Error).message}`);
        }
      },
    }),
  );
  io.err('tollgate gateway: draining: no new sessions, letting running work finish');
  await gw.close({ graceMs: 10_000 });
  io.err('tollgate gateway: stopped');
  return 0;
}
