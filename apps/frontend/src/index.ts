// apps/frontend: the HTTP API. Not a library; exported for its own tests, the local cluster and the bench.

export { type AppConfig, type AppOptions, buildApp, type FrontendRouter } from './app.js';
export {
  ConfigError,
  envName,
  type FrontendConfig,
  type FrontendConfigInput,
  loadConfig,
  parseConfig,
} from './config.js';
export { FrontendErrorCode, HttpError, toHttpError } from './errors.js';
export { Frontend } from './frontend.js';
export { FrontendMetrics } from './metrics.js';
export { parsePutHeaders } from './put-request.js';
export { parseRange, type RangeSpec, resolveRange } from './range.js';
