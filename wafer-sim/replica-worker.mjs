// Bootstrap of a compute worker thread. Worker threads do not inherit the module hooks of the main
// thread, so this plain ES module registers tsx (as bin/csrun.js does) before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./replica-worker.ts');
