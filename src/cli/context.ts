import { loadSettings, type Settings } from '../config/settings.js';
import { isRemote } from '../client/where.js';
import type { CliServices } from '../client/remoteServices.js';
import { DbaasError } from '../errors.js';
import { reportError } from './exit.js';

export interface CommonOptions {
  json?: boolean;
}

/**
 * Runs a command body with settings and a manager, and turns any failure into an error report
 * and an exit code. Each CLI process is a short-lived manager: it shares the registry with a
 * running server through the registry's lock.
 */
export async function withSettings(opts: CommonOptions, body: (settings: Settings) => Promise<void>): Promise<void> {
  await reported(opts, () => body(loadSettings()));
}

/** Runs a command's work; a failure becomes its error report and exit code (see exit.ts). */
export async function reported(opts: CommonOptions, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    process.exitCode = reportError(err, Boolean(opts.json));
  }
}

/**
 * Runs a command body with dbaas's services: this host's own (the one wiring point,
 * src/services.ts), or, with DBAAS_URL or a `dbaas login`, a remote server's through its REST
 * routes (src/client/remoteServices.ts). The body cannot tell them apart.
 */
export async function withServices(opts: CommonOptions, body: (services: CliServices) => Promise<void>): Promise<void> {
  if (isRemote()) return reported(opts, async () => body(await remote()));
  await withSettings(opts, (settings) => servicesOf(settings, body));
}

/** The remote server's services, for DBAAS_URL or the saved login. */
export async function remote(): Promise<CliServices> {
  const [{ remoteTarget }, { ApiClient }, { remoteServices }] = await Promise.all([
    import('../client/credentials.js'),
    import('../client/http.js'),
    import('../client/remoteServices.js'),
  ]);
  const target = remoteTarget();
  if (!target) throw new DbaasError('USAGE', 'no remote server: set DBAAS_URL and DBAAS_TOKEN, or run dbaas login <url>');
  return remoteServices(new ApiClient(target));
}

/** Builds the services of loaded settings for `body` and closes them afterwards. */
export async function servicesOf(settings: Settings, body: (services: CliServices) => Promise<void>): Promise<void> {
  // Loaded here, not at start: the wiring point pulls in every service (engine client, pools).
  const { createServices } = await import('../services.js');
  const services = createServices(settings);
  try {
    await body({ ...services, remote: null });
  } finally {
    await services.close();
  }
}

export async function withManager(opts: CommonOptions, body: (manager: CliServices['manager']) => Promise<void>): Promise<void> {
  await withServices(opts, (services) => body(services.manager));
}
