#!/usr/bin/env node
/** The `kontor` binary. Commands live in commands.ts. */
import { main } from './commands.js';

process.exitCode = await main(process.argv);
