import { createServer } from 'node:http';
import { runtimePaths } from '../../config/settings.js';
import { DbaasError } from '../../errors.js';
import { BackupScheduler } from '../../backups/scheduler.js';
import { InstanceKeeper } from '../../instances/keeper.js';
import { createLogger } from '../../log/logger.js';
import { createServices } from '../../services.js';
import { withSettings } from '../context.js';

/** What `dbaas serve` does (its flags and help: commands/serve.ts): the API and the keepers. */

export async function serve(opts: { host?: string; port?: number }): Promise<void> {
  await withSettings({}, async (settings) => {
    const paths = runtimePaths(settings);
    const logger = createLogger({ file: paths.provisioningLog, level: settings.logLevel });
    const services = createServices(settings, { logger });
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
    const host = opts.host ?? settings.apiHost;
    const port = opts.port ?? settings.apiPort;
    await new Promise<void>((resolve, reject) => {
      // Not app.listen: express 5 calls its callback on a failed listen too, which logged
      // "listening" for a port that another process holds.
      const server = createServer(app);
      server.once('listening', () => {
        const address = server.address();
        const actual = typeof address === 'object' && address ? address.port : port;
        logger.info(`dbaas API listening on http://${host}:${actual} (docs: /docs)`, { home: settings.home });
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
