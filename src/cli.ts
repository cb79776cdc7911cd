#!/usr/bin/env node
/** The `kontor` binary. Commands live in commands.ts. */
import { main } from './commands.js';

// `kontor status | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv);
