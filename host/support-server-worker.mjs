// Bootstrap of a support-server input worker (a piscina worker thread). Worker threads do not inherit
// the module hooks the main thread registered, so this plain ES module registers the TypeScript loader first
// (bin/register.mjs, as bin/csrun.js does) and then loads the TypeScript worker, which imports the user's data.ts.
import '../bin/register.mjs';

const worker = await import('./support-server-worker.ts');

export default worker.default;
