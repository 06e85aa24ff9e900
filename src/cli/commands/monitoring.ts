import type { Command } from 'commander';
import { actionsOf } from '../lazy.js';
import { wholeFlag } from '../numbers.js';

/** `dbaas metrics` and `dbaas agent`: the monitoring agent's samples and the agent itself; their flags and help. */

const run = actionsOf(() => import('../actions/monitoring.js'));

export function registerMonitoringCommands(program: Command): void {
  program
    .command('metrics')
    .description("read the monitoring agent's samples: a table and chart, the latest one, or rates")
    .argument('<instance>', 'id or name')
    .option('--since <time>', 'from: ISO time, epoch ms, or a duration ago (15m)', '15m')
    .option('--until <time>', 'to: ISO time, epoch ms, or a duration ago')
    .option('--limit <n>', 'at most this many samples (the newest)', wholeFlag(1), 1000)
    .option('--latest', 'only the newest sample')
    .option('--summary', 'rates over --window (transactions/s, rows/s, cache hit ratio, container CPU and memory)')
    .option('--window <duration>', 'window of --summary', '5m')
    .option('--watch', 'refresh every sampling interval until Ctrl-C')
    .option('--json', 'print JSON (with --watch: one document per refresh)')
    .action(run('metrics'));

  const agent = program.command('agent').description('the monitoring agent of an instance');
  agent
    .command('status')
    .description('running or not, last sample age, samples written, last error')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(run('agentStatus'));
  agent
    .command('restart')
    .description('restart the monitoring agent')
    .argument('<instance>', 'id or name')
    .option('--json', 'print JSON')
    .action(run('restartAgent'));
  agent
    .command('logs')
    .description("print the agent's own log")
    .argument('<instance>', 'id or name')
    .option('-n, --tail <lines>', 'lines from the end', wholeFlag(1), 100)
    .option('--json', 'print JSON')
    .action(run('agentLogs'));
}
