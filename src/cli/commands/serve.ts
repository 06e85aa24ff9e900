import type { Command } from 'commander';
import { runtimePaths } from '../../config/settings.js';
import { createManager } from '../../instances/manager.js';
import { createLogger } from '../../log/logger.js';
import { withSettings } from '../context.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the REST API (Swagger UI at /docs, ReDoc at /redoc)')
    .option('--host <address>', 'address to listen on (default: DBAAS_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default: DBAAS_API_PORT or 8000)')
    .action(async (opts: { host?: string; port?: string }) => {
      await withSettings({}, async (settings) => {
        const paths = runtimePaths(settings);
        const logger = createLogger({ file: paths.provisioningLog, level: settings.logLevel });
        const manager = createManager(settings, logger);
        // Loaded here, not at start-up: express, Swagger UI and ReDoc are only needed to serve.
        const { createApp } = await import('../../api/app.js');
        const { MonitoringService } = await import('../../monitoring/service.js');
        const { DataService } = await import('../../database/service.js');
        const monitoring = new MonitoringService(manager, logger);
        const data = new DataService(manager);
        const app = createApp({ manager, monitoring, data }, logger);
        const stopWatchdog = monitoring.startWatchdog(settings.watchdogIntervalSec * 1000);
        const host = opts.host ?? settings.apiHost;
        const port = opts.port !== undefined ? Number(opts.port) : settings.apiPort;
        await new Promise<void>((resolve, reject) => {
          const server = app.listen(port, host, () => {
            const address = server.address();
            const actual = typeof address === 'object' && address ? address.port : port;
            logger.info(`dbaas API listening on http://${host}:${actual} (docs: /docs)`, { home: settings.home });
          });
          server.on('error', reject);
          const shutdown = (signal: string) => {
            logger.info(`received ${signal}; closing the API`);
            stopWatchdog();
            void data.close();
            server.close(() => resolve());
            server.closeAllConnections();
          };
          process.once('SIGINT', () => shutdown('SIGINT'));
          process.once('SIGTERM', () => shutdown('SIGTERM'));
        });
      });
    });
}
