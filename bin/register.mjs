// Makes TypeScript load without a build step, in the main thread and in every worker thread (workers do
// not inherit module hooks): tsx compiles .ts files, and esm-hooks.mjs makes a user's .ts files ES
// modules even where no package.json says "type": "module" (a model directory outside any package, or
// one whose package.json `npm install csrun` created).
import { register as registerTsx } from 'tsx/esm/api';
import { register } from 'node:module';

registerTsx();
register('./esm-hooks.mjs', import.meta.url);
