#!/usr/bin/env node
// Entry point of the `csrun` command: registers the TypeScript loader (bin/register.mjs), so that csrun's
// own sources and the user's model.ts / data.ts load without a build step, then hands over to the CLI.
await import('./register.mjs');
const { main } = await import('../host/cli.ts');
process.exitCode = await main(process.argv);
