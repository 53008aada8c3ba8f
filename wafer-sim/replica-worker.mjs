// Bootstrap of a compute worker thread. Worker threads do not inherit the module hooks of the main
// thread, so this plain ES module registers the TypeScript loader (bin/register.mjs, as bin/csrun.js does)
// before loading the TypeScript worker.
import '../bin/register.mjs';

await import('./replica-worker.ts');
