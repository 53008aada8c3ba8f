// Where every csrun worker thread starts (runtime/parallel/worker-rpc.ts). Worker threads do not inherit the
// module hooks of the main thread, so this plain ES module registers the TypeScript loader first
// (bin/register.mjs, as bin/csrun.js does) and then imports the worker's entry module, which calls
// serveRequests().
import '../../bin/register.mjs';
import { workerData } from 'node:worker_threads';

await import(workerData.entry);
