#!/usr/bin/env node
// Entry point of the `csrun` command. Registers tsx so that csrun's own TypeScript sources and the
// user's model.ts / data.ts load without a build step, then hands over to the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../host/cli.ts');
process.exitCode = await main(process.argv);
