/**
 * A package loaded on its first use, not with the module that needs it: for libraries that only
 * some projects (CSV files) or only error paths (locating a JSON syntax error) need, which would
 * otherwise add to the start of every kontor command. Loaded synchronously (its CommonJS build),
 * so the functions that use it keep their signatures.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function onFirstUse<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}
