// apps/datanode: the storage server. Not a library; exported for its own tests and benchmark.

export {
  ConfigError,
  type DataNodeConfig,
  type DataNodeConfigInput,
  envName,
  loadConfig,
  parseConfig,
} from './config.js';
export { DataNode } from './datanode.js';
