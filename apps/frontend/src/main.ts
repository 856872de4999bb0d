#!/usr/bin/env node
import { Command } from 'commander';
import { pino } from 'pino';
import { ConfigError, loadConfig } from './config.js';
import { Frontend } from './frontend.js';

/**
 * `ambry-frontend --config frontend.json`: serves the HTTP API; SIGTERM or SIGINT stops it gracefully
 * (exit 0). A bad configuration exits 2 with every problem named; a failed start exits 1.
 */
const program = new Command()
  .name('ambry-frontend')
  .description("Serve Ambry's HTTP API over an embedded router")
  .option('-c, --config <file>', 'JSON configuration file (AMBRY_* environment variables override it)')
  .parse();

const { config: file } = program.opts<{ config?: string }>();
let frontend: Frontend | undefined;
try {
  const config = await loadConfig(file, process.env);
  const logger = pino({ level: config.logLevel });
  let stopRequested = false;
  const stop = (signal: string) => {
    if (stopRequested) {
      logger.warn({ signal }, 'shutdown already in progress');
      return;
    }
    stopRequested = true;
    logger.info({ signal }, 'shutdown requested');
    const stopping = frontend === undefined ? Promise.resolve() : frontend.stop();
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
  frontend = await Frontend.start(config, logger);
  // Printed whatever logLevel says: whoever started the process (the local cluster, tests) reads the URL here.
  process.stdout.write(
    `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, url: frontend.url, datacenter: config.datacenter, msg: 'frontend listening' })}\n`,
  );
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `ambry-frontend failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
}
