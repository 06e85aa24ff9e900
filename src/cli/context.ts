import { loadSettings, type Settings } from '../config/settings.js';
import type { Manager } from '../instances/manager.js';
import type { Services } from '../services.js';
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
  try {
    await body(loadSettings());
  } catch (err) {
    process.exitCode = reportError(err, Boolean(opts.json));
  }
}

/** Runs a command body with dbaas's services (the one wiring point, src/services.ts). */
export async function withServices(opts: CommonOptions, body: (services: Services) => Promise<void>): Promise<void> {
  await withSettings(opts, (settings) => servicesOf(settings, body));
}

/** Builds the services of loaded settings for `body` and closes them afterwards. */
export async function servicesOf(settings: Settings, body: (services: Services) => Promise<void>): Promise<void> {
  // Loaded here, not at start: the wiring point pulls in every service (engine client, pools).
  const { createServices } = await import('../services.js');
  const services = createServices(settings);
  try {
    await body(services);
  } finally {
    await services.close();
  }
}

export async function withManager(opts: CommonOptions, body: (manager: Manager) => Promise<void>): Promise<void> {
  await withServices(opts, (services) => body(services.manager));
}
