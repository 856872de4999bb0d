#!/usr/bin/env node
import { runService } from '@ambry/service-kit';
import { pino } from 'pino';
import { loadConfig } from './config.js';
import { DataNode } from './datanode.js';

/**
 * `ambry-datanode --config datanode.json`: starts a datanode; SIGTERM or SIGINT stops it gracefully
 * (exit 0; a repeated signal does not cut the clean close of the stores short: shutdownTimeoutMs bounds
 * it, SIGKILL forces it). A bad configuration exits 2 with every problem named; a failed start exits 1.
 */
await runService({
  name: 'ambry-datanode',
  description: 'Serve the partition replicas the cluster map assigns to this node',
  loadConfig,
  logger: (config) => pino({ level: config.logLevel }),
  start: (config, logger) => DataNode.start(config, logger),
  stop: (node) => node.stop(),
});
