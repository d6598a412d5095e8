/**
 * hpc-bridge/client: a thin SDK for the daemon's HTTP API (Node 20+, no runtime dependencies).
 *
 *   import { Client, Job, Task, Resources, InputFile, setDefaultClient } from 'hpc-bridge/client';
 *   setDefaultClient(new Client({ url, token }));   // or HPC_BRIDGE_URL / HPC_BRIDGE_TOKEN
 *   const job = await new Job({ tasks: [new Task('echo hi')] }).create();
 *   const done = await job.wait();
 */
export { Client, HpcBridgeError, DEFAULT_URL, getDefaultClient, setDefaultClient, type ClientOptions, type LogChunk, type Progress, type RequestOptions } from './client.js';
export { KeyValueStore } from './kv.js';
export { DEFAULT_RETRY_SECONDS, type RetryOptions } from './retry.js';
export { Job, Task, Resources, JobPolicies, InputFile, Artifact, type JobInit } from './job.js';
export { Workflow, Dependency, ParameterSweep, Zip, Repeat, type WorkflowInit, type WorkflowView, type WorkflowJobView, type WorkflowStatus, type SweepParameter } from './workflow.js';
export * from './types.js';
