// Public face of the stats part: the socket server and client, the health sampler and the HTML report.
export { startStatsServer, StatsServerError, type StatsServer, type StatsServerOptions } from './server.js';
export { connectStats, requestStats, findInstances, StatsClientError, type StatsConnection, type Instance } from './client.js';
export { CounterSampler, healthBetween, type Health, type Sample } from './sampler.js';
export { REQUESTS, type TaskRow as StatsTaskRow, type Reply } from './protocol.js';
export { defaultSocketPath, statsDir } from './paths.js';
export { fieldMeta, allFieldMeta, type FieldMeta } from './meta.js';
export { buildHtmlReport, readEmbeddedData, type ReportSpec, type ReportSection, type ReportBlock } from './html.js';
export { formatOpenMetrics, OPENMETRICS_CONTENT_TYPE } from './openmetrics.js';
export {
  startMetricsServer,
  parseMetricsAddress,
  isLoopback,
  DEFAULT_METRICS_ADDRESS,
  type MetricsServer,
} from './metrics-server.js';
export {
  OBSERVABILITY_FLAGS,
  observabilityFromFlags,
  startObservability,
  type Observability,
  type ObservabilityOptions,
} from './observe.js';
