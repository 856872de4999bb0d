#!/usr/bin/env node
import { runService } from '@ambry/service-kit';
import { pino } from 'pino';
import { loadConfig } from './config.js';
import { Frontend } from './frontend.js';

/**
 * `ambry-frontend --config frontend.json`: serves the HTTP API; SIGTERM or SIGINT stops it gracefully
 * (exit 0). A bad configuration exits 2 with every problem named; a failed start exits 1.
 */
await runService({
  name: 'ambry-frontend',
  description: "Serve Ambry's HTTP API over an embedded router",
  loadConfig,
  logger: (config) => pino({ level: config.logLevel }),
  start: async (config, logger) => {
    const frontend = await Frontend.start(config, logger);
    // Printed whatever logLevel says: whoever started the process (the local cluster, tests) reads the URL here.
    process.stdout.write(
      `${JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, url: frontend.url, datacenter: config.datacenter, msg: 'frontend listening' })}\n`,
    );
    return frontend;
  },
  stop: (frontend) => frontend.stop(),
});
