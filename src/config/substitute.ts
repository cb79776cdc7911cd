/**
 * `${ENV_VAR}` substitution and `*_FILE` indirection, applied to the YAML tree before
 * validation so that errors still point at the line that asked for the value.
 *
 * - `${NAME}` takes the environment variable NAME; when NAME is unset but NAME_FILE is set,
 *   the file it names is read (the Docker/systemd secrets convention). `${NAME:-default}`
 *   falls back to a default. `$${` writes a literal `${`.
 * - A key ending in `_file` (e.g. `api_key_file: /run/secrets/rma`) is replaced by the key
 *   without the suffix, holding the file's content without its trailing newline.
 *
 * Every value obtained from a file, every value under a `credentials` key, and every value of
 * an environment variable named like a secret (…KEY, …TOKEN, …PASSWORD) is a secret:
 * it is returned in `secrets` so the logger can redact it everywhere.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, Scalar, type Node, type Pair } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { positionOfOffset, type YamlSource } from './yaml.js';

/** Environment variables whose values are secrets wherever they are substituted. */
const SECRET_NAME = /KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH/i;
/** …but not variables that name places (systemd's CREDENTIALS_DIRECTORY, RMA_KEY_FILE). */
const PLACE_NAME = /(_DIR|_DIRECTORY|_PATH|_FILE)$/i;

const PLACEHOLDER = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface SubstitutionResult {
  secrets: Set<string>;
}

export function substitute(source: YamlSource, env: NodeJS.ProcessEnv): SubstitutionResult {
  const secrets = new Set<string>();
  const issues: ConfigIssue[] = [];
  const baseDir = path.dirname(source.absolutePath);

  const readSecretFile = (file: string, at: number, what: string): string | undefined => {
    try {
      const content = readFileSync(path.resolve(baseDir, file), 'utf8').replace(/\r?\n$/, '');
      if (content !== '') secrets.add(content);
      return content;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      issues.push({ ...positionOfOffset(source, at), message: `${what}: cannot read ${file} (${code})` });
      return undefined;
    }
  };

  const expand = (scalar: Scalar, isSecret: boolean): void => {
    if (typeof scalar.value !== 'string') return;
    const at = scalar.range?.[0] ?? 0;
    const text = scalar.value;
    const expanded = text.replace(PLACEHOLDER, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const direct = env[name!];
      if (direct !== undefined && direct !== '') {
        if (SECRET_NAME.test(name!) && !PLACE_NAME.test(name!)) secrets.add(direct);
        return direct;
      }
      const fileVar = env[`${name}_FILE`];
      if (fileVar) return readSecretFile(fileVar, at, `${name}_FILE`) ?? '';
      if (fallback !== undefined) return fallback;
      issues.push({ ...positionOfOffset(source, at), message: `environment variable ${name} is not set (nor ${name}_FILE)` });
      return '';
    });
    if (expanded !== text) scalar.value = expanded;
    if (isSecret && expanded !== '') secrets.add(expanded);
  };

  const walk = (node: unknown, inCredentials: boolean): void => {
    if (isScalar(node)) {
      expand(node, inCredentials);
    } else if (isSeq(node)) {
      for (const item of node.items) walk(item, inCredentials);
    } else if (isMap(node)) {
      for (const pair of node.items as Pair<Node, Node>[]) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        // Dates of a credential are public: they are printed in expiry warnings.
        const childInCredentials = (inCredentials || key === 'credentials') && key !== 'expires' && key !== 'created';
        // A *_file value is a path to a secret, not the secret.
        walk(pair.value, childInCredentials && !key.endsWith('_file'));
        if (key.endsWith('_file') && isScalar(pair.value) && typeof pair.value.value === 'string' && inCredentials) {
          const at = pair.value.range?.[0] ?? 0;
          const content = readSecretFile(pair.value.value, at, key);
          if (content !== undefined) {
            (pair.key as Scalar).value = key.slice(0, -'_file'.length);
            (pair.value as Scalar).value = content;
          }
        }
      }
    }
  };

  walk(source.doc.contents, false);
  if (issues.length > 0) throw new ConfigError(issues);
  return { secrets };
}
