#!/usr/bin/env node
import { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config.js';
import { DataNode } from './datanode.js';

/**
 * `ambry-datanode --config datanode.json`: starts a datanode; SIGTERM or SIGINT stops it gracefully
 * (exit 0). A bad configuration exits 2 with every problem named; a failed start exits 1.
 */
const program = new Command()
  .name('ambry-datanode')
  .description('Serve the partition replicas the cluster map assigns to this node')
  .option('-c, --config <file>', 'JSON configuration file (AMBRY_* environment variables override it)')
  .parse();

const { config: file } = program.opts<{ config?: string }>();
let node: DataNode | undefined;
try {
  const config = await loadConfig(file, process.env);
  const logger = pino({ level: config.logLevel });
  let stopRequested = false;
  const stop = (signal: string) => {
    // A repeated signal (a supervisor forwarding what the process group already got, a second Ctrl-C)
    // must not cut the clean close of the stores short: shutdownTimeoutMs bounds it, SIGKILL forces it.
    if (stopRequested) {
      logger.warn({ signal }, 'shutdown already in progress');
      return;
    }
    stopRequested = true;
    logger.info({ signal }, 'shutdown requested');
    const stopping = node === undefined ? Promise.resolve() : node.stop();
    stopping.then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  node = await DataNode.start(config, logger);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `ambry-datanode failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}
