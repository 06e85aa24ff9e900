import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP } from 'node:net';
import { runtimePaths, type Settings } from '../../config/settings.js';
import { DbaasError } from '../../errors.js';
import { BackupScheduler } from '../../backups/scheduler.js';
import { InstanceKeeper } from '../../instances/keeper.js';
import { createLogger } from '../../log/logger.js';
import { createServices } from '../../services.js';
import { withSettings } from '../context.js';

/** What `dbaas serve` does (its flags and help: commands/serve.ts): the API and the keepers. */

export interface ServeOptions {
  host?: string;
  port?: number;
  tlsCert?: string;
  tlsKey?: string;
  tls?: string;
  insecure?: boolean;
}

/** Loopback addresses and names: the only ones served without TLS and tokens by default. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** The certificate and key to serve with, or null for plain HTTP. */
async function tlsOf(opts: ServeOptions, settings: Settings, host: string): Promise<{ cert: string; key: string } | null> {
  if (opts.tls !== undefined && opts.tls !== 'auto') throw new DbaasError('USAGE', `--tls takes "auto", got "${opts.tls}"`);
  if (opts.tls === 'auto') {
    if (opts.tlsCert || opts.tlsKey) throw new DbaasError('USAGE', '--tls auto issues its own certificate; give it or --tls-cert/--tls-key, not both');
    const { ensureApiCertificate } = await import('../../tls/apiCertificate.js');
    const issued = await ensureApiCertificate(runtimePaths(settings).caDir, host, settings.connectHost).catch((err: Error) => {
      throw new DbaasError('CONFIG_INVALID', `cannot issue the API's certificate: ${err.message}`);
    });
    return { cert: issued.cert, key: issued.key };
  }
  const certFile = opts.tlsCert ?? settings.tlsCert;
  const keyFile = opts.tlsKey ?? settings.tlsKey;
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) throw new DbaasError('USAGE', 'give both --tls-cert and --tls-key (or DBAAS_TLS_CERT and DBAAS_TLS_KEY)');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new DbaasError('CONFIG_INVALID', `cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
}

export async function serve(opts: ServeOptions): Promise<void> {
  await withSettings({}, async (settings) => {
    const paths = runtimePaths(settings);
    const logger = createLogger({ file: paths.provisioningLog, level: settings.logLevel });
    const host = opts.host ?? settings.apiHost;
    const port = opts.port ?? settings.apiPort;
    const tls = await tlsOf(opts, settings, host);
    const services = createServices(settings, { logger });
    if (!isLoopback(host) && !opts.insecure) {
      const missing = [...(tls ? [] : ['TLS (--tls auto, or --tls-cert and --tls-key)']), ...((await services.tokens.hasActive()) ? [] : ['a token (dbaas token create)'])];
      if (missing.length > 0) {
        await services.close();
        throw new DbaasError('USAGE', `refusing to listen on ${host}, a network address, without ${missing.join(' and without ')}; or give --insecure`, { host });
      }
    }
    const { monitoring, data } = services;
    // Loaded here, not at start-up: express, Swagger UI and ReDoc are only needed to serve.
    const { createApp } = await import('../../api/app.js');
    const app = createApp(services, logger);
    const stopAgentWatchdog = monitoring.startWatchdog(settings.watchdogIntervalSec * 1000);
    // Instances recorded as running come back after an engine restart or a crash.
    const stopKeeper = new InstanceKeeper(services.doctor, logger).start(settings.watchdogIntervalSec * 1000);
    // Scheduled backups and their retention (a missed run is made up at the first round).
    const scheduler = new BackupScheduler(services.manager, services.backups, logger, settings.schedulerIntervalSec * 1000);
    scheduler.start();
    const stopWatchdog = () => {
      stopAgentWatchdog();
      stopKeeper();
      void scheduler.stop();
    };
    // Idempotency keys live 24 hours, and the data an upgrade keeps for its rollback 7 days:
    // both are swept now and then.
    const sweep = setInterval(() => {
      void services.idempotency.sweep().catch(() => undefined);
      void services.upgrades.finalizeExpired().catch(() => undefined);
    }, 3600_000);
    sweep.unref();
    await new Promise<void>((resolve, reject) => {
      // Not app.listen: express 5 calls its callback on a failed listen too, which logged
      // "listening" for a port that another process holds.
      const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }, app.handle) : createServer(app.handle);
      server.once('listening', () => {
        const address = server.address();
        const actual = typeof address === 'object' && address ? address.port : port;
        logger.info(`dbaas API listening on ${tls ? 'https' : 'http'}://${host}:${actual} (docs: /docs)`, { home: settings.home });
      });
      server.once('error', (err: NodeJS.ErrnoException) => {
        stopWatchdog();
        void data.close();
        if (err.code === 'EADDRINUSE') reject(new DbaasError('PORT_IN_USE', `cannot listen on ${host}:${port}: another process uses the port`, { host, port }));
        else if (err.code === 'EADDRNOTAVAIL') reject(new DbaasError('VALIDATION_FAILED', `cannot listen on ${host}: not an address of this host`, { host }));
        else reject(err);
      });
      server.listen(port, host);
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        logger.info(`received ${signal}; closing the API`);
        stopWatchdog();
        void data.close();
        server.close(() => resolve());
        server.closeAllConnections();
      };
      // `on`, not `once`: a library's exit handler (the lock library's signal-exit) kills the
      // process when it finds itself the only listener left, before the API has closed.
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    });
  });
}
