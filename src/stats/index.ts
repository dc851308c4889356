// Public face of the stats part: the socket server and client, the health sampler and the HTML report.
export { startStatsServer, StatsServerError, type StatsServer, type StatsServerOptions } from './server.js';
export { connectStats, requestStats, findInstances, StatsClientError, type StatsConnection, type Instance } from './client.js';
export { CounterSampler, healthBetween, type Health, type Sample } from './sampler.js';
export { REQUESTS, type TaskRow, type Reply } from './protocol.js';
export { defaultSocketPath, statsDir } from './paths.js';
export { fieldMeta, allFieldMeta, type FieldMeta } from './meta.js';
export { buildHtmlReport, readEmbeddedData, type ReportSpec, type ReportSection, type ReportBlock } from './html.js';
