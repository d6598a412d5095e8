/** hpc-bridge as a library: the daemon's building blocks for use on a login node or gateway. */
export { Bridge, type BridgeOptions } from './bridge.js';
export { loadSettings, buildSettings } from './settings/load.js';
export { embeddedDefaultSettings } from './settings/defaults.js';
export type { Settings, ClusterConfig, DaemonConfig } from './settings/schema.js';
export { parseJobSpec, type JobSpec, type JobSpecInput } from './domain/jobSpec.js';
export { BridgeError, type ErrorCode } from './domain/errors.js';
export type { JobRecord, JobFilter, JobEvent } from './store/store.js';
export type { JobState, PublicStatus } from './domain/state.js';
