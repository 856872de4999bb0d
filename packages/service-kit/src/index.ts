// @ambry/service-kit: what every server process of the blob store repeats. Private to this monorepo.

export {
  ConfigError,
  type ConfigSchema,
  configProblems,
  ENV_PREFIX,
  envName,
  envValue,
  fieldKind,
  type LoadServiceConfigOptions,
  loadServiceConfig,
  type ParseServiceConfigOptions,
  parseServiceConfig,
  readConfigFile,
} from './config.js';
export { type RequestMetrics, type RequestMetricsOptions, requestMetrics } from './metrics.js';
export { type RunServiceOptions, runService, type ServiceHost, type ServiceLogger } from './run-service.js';
