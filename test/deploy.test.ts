/**
 * deploy/: the systemd unit and the example environment file. The unit is read as systemd reads
 * it; its ExecStart runs the real CLI (with this checkout and a temp project in place of
 * /opt/kontor and /etc/kontor), which starts the service and stops within TimeoutStopSec.
 * docs/operations.md shows the same unit, word for word.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT, runCli, tempProject } from './helpers.js';

const UNIT_FILE = path.join(ROOT, 'deploy', 'kontor.service');
const ENV_FILE = path.join(ROOT, 'deploy', 'kontor.env');

/** A unit file as systemd parses it: section → key → every value (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq <= 0) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** A systemd time span (`30s`, `1min 30s`, `90`) in seconds. */
function seconds(span: string): number {
  let total = 0;
  for (const [, n, unit] of span.matchAll(/(\d+)\s*(ms|s|sec|min|m|h)?/g)) {
    const factor = { ms: 0.001, s: 1, sec: 1, min: 60, m: 60, h: 3600 }[unit ?? 's']!;
    total += Number(n) * factor;
  }
  return total;
}

const unit = parseUnit(readFileSync(UNIT_FILE, 'utf8'));
const service = unit.get('Service')!;
const one = (key: string) => {
  const values = service.get(key);
  expect(values, key).toHaveLength(1);
  return values![0]!;
};

describe('deploy/kontor.service', () => {
  it('runs kontor as its own user with a state folder, an environment file, restarts and a stop timeout beyond the grace period', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Unit')!.get('After')).toEqual(['network-online.target']);
    expect(one('Type')).toBe('simple'); // kontor does not speak sd_notify
    expect(one('User')).toBe('kontor');
    expect(one('Group')).toBe('kontor');
    expect(one('StateDirectory')).toBe('kontor');
    expect(one('StateDirectoryMode')).toBe('0700');
    expect(one('WorkingDirectory')).toBe('/var/lib/kontor');
    expect(one('EnvironmentFile')).toBe('/etc/kontor/kontor.env');
    expect(one('UMask')).toBe('0077');
    expect(one('Restart')).toBe('on-failure');
    expect(seconds(one('RestartSec'))).toBeGreaterThan(0);
    expect(one('KillSignal')).toBe('SIGTERM');
    // service.shutdown_grace_seconds is 10 by default (docs/configuration.md): the stop timeout leaves room to close the database.
    expect(seconds(one('TimeoutStopSec'))).toBeGreaterThanOrEqual(10 + 10);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['ReadWritePaths', '/var/lib/kontor'],
    ]) {
      expect(one(key!), key).toBe(value);
    }
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('starts the real CLI with the ExecStart command line and stops on SIGTERM within TimeoutStopSec', { timeout: 60_000 }, async () => {
    const argv = one('ExecStart').split(/\s+/);
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/node', '/opt/kontor/dist/cli.js']);
    const args = argv.slice(2);
    expect(args).toEqual(['run', '--config', '/etc/kontor/config.yaml']);
    const help = await runCli(['run', '--help'], { cwd: ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kontor run/);
    // --config after the command is the global option (a missing file is a configuration error naming it).
    const missing = await runCli(args, { cwd: ROOT });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('/etc/kontor/config.yaml');

    // /opt/kontor is this checkout, /etc/kontor/config.yaml a temp project's; the variables come from the example environment file.
    const dir = tempProject();
    const env = Object.fromEntries(
      readFileSync(ENV_FILE, 'utf8')
        .split('\n')
        .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const child = spawn(process.execPath, [CLI, ...args.map((a) => (a === '/etc/kontor/config.yaml' ? path.join(dir, 'config.yaml') : a))], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const running = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('kontor running')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`kontor run ended early (${code}):\n${stderr}`)));
    });
    await running;
    expect(stdout).toContain('source samples: 5 orders read, 5 booked');
    // Journald gets JSON lines (log.format auto: stderr is not a terminal).
    for (const line of stderr.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    child.removeAllListeners('exit');
    const stopped = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(seconds(one('TimeoutStopSec')) * 1000);
    expect(stderr).toContain('kontor stopped');
  });

  it('passes systemd-analyze verify where systemd is installed', () => {
    const probe = spawnSync('systemd-analyze', ['--version']);
    if (probe.error || probe.status !== 0) return; // not installed: nothing to ask
    const result = spawnSync('systemd-analyze', ['verify', UNIT_FILE], { encoding: 'utf8' });
    // /usr/bin/node may be elsewhere on this machine; anything else is a finding.
    const findings = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Command \/usr\/bin\/node is not executable|\/usr\/bin\/node: No such file/.test(l));
    expect(findings).toEqual([]);
  });
});

describe('deploy/kontor.env', () => {
  it('holds only NAME=value lines and comments, and every name is a variable config.yaml can use', () => {
    const lines = readFileSync(ENV_FILE, 'utf8').split('\n');
    for (const line of lines) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^[A-Z_][A-Z0-9_]*=\S+$/);
    }
    expect(lines.some((l) => l.startsWith('RMA_PRODUCTION_KEY='))).toBe(true);
  });
});

describe('docs/operations.md', () => {
  it('shows deploy/kontor.service word for word', () => {
    const docs = readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');
    const block = /```ini\n# \/etc\/systemd\/system\/kontor\.service\n([\s\S]*?)```/.exec(docs);
    expect(block, 'an ini block starting with "# /etc/systemd/system/kontor.service"').not.toBeNull();
    expect(block![1]).toBe(readFileSync(UNIT_FILE, 'utf8'));
  });
});
