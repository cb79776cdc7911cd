/**
 * What the loopback emulators of targets (runmyaccounts/emulator.ts, billecta/emulator.ts) share:
 * the faults they inject (latency, 500s, 429 bursts, connections dropped, stalled or failed after
 * the commit), their checking, the `/_control/faults` resource, a request-rate meter that
 * enforces a limit (RateMeter), reading a body, and listening on and closing a node:http server.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface EmulatorFaults {
  /** Milliseconds every API request waits: after its body arrived, before it is handled (or, under LatencyFrom `arrival`, from its arrival to its answer). */
  latencyMs?: number;
  /** Share of API requests (0…1) answered 500 without being handled. */
  errorRate?: number;
  /** The next N API requests answer 429 Too Many Requests with `Retry-After`. */
  throttle?: number;
  /** The `Retry-After` of a `throttle` 429, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** The next N successful writes are committed, then their connection is destroyed without an answer. */
  dropAfterCommit?: number;
  /** The next N successful writes are committed, then answered 500 (an in-doubt send). */
  failAfterCommit?: number;
  /**
   * The next N successful writes are committed, then their answer is held back for `stallMs`
   * and the connection destroyed without one: a timeout after the commit, as a client with a
   * shorter read timeout sees it (a longer one sees the reset when the stall ends).
   */
  stallAfterCommit?: number;
  /** How long a `stallAfterCommit` write hangs before its connection is destroyed, in ms (default 2000). */
  stallMs?: number;
}

/**
 * How an emulator waits out `latencyMs`. `sleep` (default): a timer, the process idle
 * meanwhile; an answer leaves 0.3–1 ms late on a VM, the timer's slack and the wake-up of an idle
 * process (measured: docs/benchmarks.md). `awake`: the process stays awake, turning its event loop
 * until the deadline, so that answers leave on time and requests arriving meanwhile are read at
 * once; it keeps a core busy while any request waits. For benchmarks, where the emulator stands
 * in for a remote server and its own delays would be charged to the client measured.
 */
export type LatencyTimer = 'sleep' | 'awake';

/**
 * What an emulator's `latencyMs` measures. `handling` (default): a request waits `latencyMs`
 * after its body arrived and is handled after that; the handling's own time comes on top, and
 * a client that gives up during the wait leaves nothing booked. `arrival`: a request is handled
 * as soon as it has arrived, and its answer leaves `latencyMs` after its arrival, the handling's
 * own time inside them: a remote server as its clients see it, where the round trip includes
 * the server's work. For benchmarks, where the emulator's own work would otherwise be charged to
 * the client measured (docs/benchmarks.md).
 */
export type LatencyFrom = 'handling' | 'arrival';

/** A wait of `ms` as `timer` waits it. */
export function latencyWait(timer: LatencyTimer = 'sleep'): (ms: number) => Promise<void> {
  if (timer === 'sleep') return (ms) => sleep(ms);
  const waits = new AwakeWaits();
  return (ms) => waits.wait(ms);
}

/**
 * Waits that end on their deadline (performance.now()), checked at every turn of the event loop
 * (setImmediate: after the poll phase, which sees new connections and data without blocking).
 * One loop for all waits, running only while one is pending.
 */
export class AwakeWaits {
  private readonly pending: { deadline: number; resolve: () => void }[] = [];
  private turning = false;

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.pending.push({ deadline: performance.now() + ms, resolve });
      if (!this.turning) {
        this.turning = true;
        setImmediate(this.turn);
      }
    });
  }

  /** Waits not yet over. */
  get size(): number {
    return this.pending.length;
  }

  /** Whether the loop is still turning (it stops once no wait is pending). */
  get turningLoop(): boolean {
    return this.turning;
  }

  private readonly turn = (): void => {
    const now = performance.now();
    for (let i = 0; i < this.pending.length; ) {
      const w = this.pending[i]!;
      if (w.deadline <= now) {
        this.pending.splice(i, 1);
        w.resolve();
      } else {
        i++;
      }
    }
    if (this.pending.length > 0) setImmediate(this.turn);
    else this.turning = false;
  };
}

/** The fault injected into a request, if one was. */
export type EmulatorFaultKind = 'latency' | 'error' | 'throttle' | 'drop' | 'fail-after-commit' | 'stall' | 'rate-limit';

/** How often each fault was injected. */
export interface EmulatorFaultStats {
  delayed: number;
  failed: number;
  throttled: number;
  dropped: number;
  failedAfterCommit: number;
  stalled: number;
}

export function freshFaultStats(): EmulatorFaultStats {
  return { delayed: 0, failed: 0, throttled: 0, dropped: 0, failedAfterCommit: 0, stalled: 0 };
}

/** An answer other than success: status and the API's error message. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const FAULT_KEYS = ['latencyMs', 'errorRate', 'throttle', 'retryAfterSeconds', 'dropAfterCommit', 'failAfterCommit', 'stallAfterCommit', 'stallMs'] as const;

/** Faults checked and copied: counts and milliseconds non-negative integers, the error rate a share 0…1. */
export function checkEmulatorFaults(value: unknown): EmulatorFaults {
  if (!isObject(value)) throw new RangeError('faults must be an object');
  const out: EmulatorFaults = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(FAULT_KEYS as readonly string[]).includes(key)) throw new RangeError(`unknown fault "${key}" (known: ${FAULT_KEYS.join(', ')})`);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RangeError(`fault ${key} must be a non-negative number, not ${JSON.stringify(v)}`);
    if (key === 'errorRate') {
      if (v > 1) throw new RangeError(`fault errorRate is a share from 0 to 1, not ${v}`);
    } else if (!Number.isSafeInteger(v)) {
      throw new RangeError(`fault ${key} must be a whole number, not ${v}`);
    }
    out[key as (typeof FAULT_KEYS)[number]] = v;
  }
  return out;
}

/** Where a request's faults are told: its record, and the emulator's counters. */
export interface FaultTarget {
  /** The faults in force now (read again after the latency wait: faults set meanwhile apply). */
  current: () => EmulatorFaults;
  record: { fault: EmulatorFaultKind | null };
  /** The counters now (read at each use: a reset meanwhile replaces them). */
  stats: () => EmulatorFaultStats;
  random: () => number;
  /** How `latencyMs` is waited out (latencyWait). */
  wait: (ms: number) => Promise<void>;
  /**
   * Under LatencyFrom `arrival`: when the request arrived (performance.now()) and the latency
   * in force then, which answerTime waits out instead of requestFaults. Absent under `handling`.
   */
  arrival?: { at: number; latencyMs: number | undefined };
}

/** The arrival of a request an emulator has just been handed, as FaultTarget `arrival` keeps it under `from`. */
export function arrivalOf(from: LatencyFrom, faults: EmulatorFaults): FaultTarget['arrival'] {
  return from === 'arrival' ? { at: performance.now(), latencyMs: faults.latencyMs } : undefined;
}

/**
 * Under LatencyFrom `arrival`, waits until the latency has passed since the request arrived,
 * when its answer may leave; at once when that has passed, or under `handling`.
 */
export function answerTime(target: Pick<FaultTarget, 'wait' | 'arrival'>): Promise<void> | undefined {
  if (!target.arrival?.latencyMs) return undefined;
  const left = target.arrival.at + target.arrival.latencyMs - performance.now();
  return left > 0 ? target.wait(left) : undefined;
}

/**
 * The faults before a request is handled: waits `latencyMs` (not under LatencyFrom `arrival`:
 * answerTime waits then), then refuses with 429 (`throttle`)
 * or, after `beforeErrorRate`, with 500 (`errorRate`). Counters count down in place. Answers the
 * faults in force, for `commitFaults`.
 */
export async function requestFaults(target: FaultTarget, beforeErrorRate?: () => void): Promise<EmulatorFaults> {
  const latency = target.arrival ? target.arrival.latencyMs : target.current().latencyMs;
  if (latency) {
    target.record.fault = 'latency';
    target.stats().delayed++;
    if (!target.arrival) await target.wait(latency);
  }
  const faults = target.current();
  if (faults.throttle) {
    faults.throttle--;
    target.record.fault = 'throttle';
    target.stats().throttled++;
    throw new Refusal(429, 'Too many requests (emulated)', { 'retry-after': String(faults.retryAfterSeconds ?? 1) });
  }
  beforeErrorRate?.();
  if (faults.errorRate && target.random() < faults.errorRate) {
    target.record.fault = 'error';
    target.stats().failed++;
    throw new Refusal(500, 'Internal server error (emulated)');
  }
  return faults;
}

/**
 * The faults after a committed write: `dropAfterCommit` finishes the request as `dropped` and
 * destroys its connection (answers true: nothing more to send); `stallAfterCommit` does the same
 * after `stallMs`; `failAfterCommit` refuses with 500.
 */
export function commitFaults(faults: EmulatorFaults, target: Pick<FaultTarget, 'record' | 'stats'>, req: IncomingMessage, finish: (status: 'dropped') => void): boolean {
  if (faults.stallAfterCommit) {
    faults.stallAfterCommit--;
    target.record.fault = 'stall';
    target.stats().stalled++;
    finish('dropped');
    const socket = req.socket;
    setTimeout(() => socket.destroy(), faults.stallMs ?? 2000).unref();
    return true;
  }
  if (faults.dropAfterCommit) {
    faults.dropAfterCommit--;
    target.record.fault = 'drop';
    target.stats().dropped++;
    finish('dropped');
    req.socket.destroy();
    return true;
  }
  if (faults.failAfterCommit) {
    faults.failAfterCommit--;
    target.record.fault = 'fail-after-commit';
    target.stats().failedAfterCommit++;
    throw new Refusal(500, 'Internal server error (emulated, after the commit)');
  }
  return false;
}

/** A request-rate limit: at most `requests` requests within any `windowMs` (default 1000 ms). */
export interface RateLimit {
  requests: number;
  windowMs?: number;
}

/** What a RateMeter saw. */
export interface RateStats {
  /** The limit enforced (null: only measured). */
  limit: number | null;
  windowMs: number;
  /** The most requests that arrived within any window (a sliding window ending at an arrival). */
  maxInWindow: number;
  /** Requests refused with 429 because the window already held `limit` (the client's violations). */
  refused: number;
}

export function checkRateLimit(value: unknown): RateLimit | null {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new RangeError('rateLimit must be an object { requests, windowMs? }');
  const { requests, windowMs } = value as { requests?: unknown; windowMs?: unknown };
  if (typeof requests !== 'number' || !Number.isSafeInteger(requests) || requests < 1) throw new RangeError(`rateLimit.requests must be a whole number of at least 1, not ${JSON.stringify(requests)}`);
  if (windowMs !== undefined && (typeof windowMs !== 'number' || !Number.isSafeInteger(windowMs) || windowMs < 1)) throw new RangeError(`rateLimit.windowMs must be a whole number of milliseconds, not ${JSON.stringify(windowMs)}`);
  return { requests, ...(windowMs !== undefined ? { windowMs } : {}) };
}

/**
 * Counts the arrivals of API requests in a sliding window and, with a limit, refuses the ones
 * that find the window full (429, told apart from the `throttle` fault: these are the client's
 * violations). Every arrival counts, refused or not, so `maxInWindow` is the client's own peak.
 * Without a limit it only measures, over `windowMs` (default 1000).
 */
export class RateMeter {
  private readonly arrivals: number[] = [];
  private head = 0;
  private limitValue: RateLimit | null;
  stats: RateStats;

  constructor(
    limit: RateLimit | null = null,
    private readonly now: () => number = Date.now,
  ) {
    this.limitValue = checkRateLimit(limit);
    this.stats = RateMeter.freshStats(this.limitValue);
  }

  static freshStats(limit: RateLimit | null): RateStats {
    return { limit: limit?.requests ?? null, windowMs: limit?.windowMs ?? 1000, maxInWindow: 0, refused: 0 };
  }

  get limit(): RateLimit | null {
    return this.limitValue ? { ...this.limitValue } : null;
  }

  /** Replace the limit (null: measure only); the window and the figures start afresh. */
  set limit(value: RateLimit | null) {
    this.limitValue = checkRateLimit(value);
    this.reset();
  }

  reset(): void {
    this.arrivals.length = 0;
    this.head = 0;
    this.stats = RateMeter.freshStats(this.limitValue);
  }

  /** Count one arrival; answers the seconds to wait when it is over the limit, else null. */
  arrive(): number | null {
    const now = this.now();
    const windowMs = this.stats.windowMs;
    while (this.head < this.arrivals.length && this.arrivals[this.head]! <= now - windowMs) this.head++;
    if (this.head > 4096) {
      this.arrivals.splice(0, this.head);
      this.head = 0;
    }
    this.arrivals.push(now);
    const inWindow = this.arrivals.length - this.head;
    this.stats.maxInWindow = Math.max(this.stats.maxInWindow, inWindow);
    if (this.limitValue === null || inWindow <= this.limitValue.requests) return null;
    this.stats.refused++;
    return Math.max(1, Math.ceil((this.arrivals[this.head]! + windowMs - now) / 1000));
  }
}

/** A 429 for a request over the meter's limit, recorded as `rate-limit`; nothing when within it. */
export function rateLimitRefusal(meter: RateMeter, record: { fault: EmulatorFaultKind | null }): void {
  const wait = meter.arrive();
  if (wait === null) return;
  record.fault = 'rate-limit';
  const limit = meter.limit!;
  throw new Refusal(429, `Rate limit exceeded: more than ${limit.requests} requests within ${limit.windowMs ?? 1000} ms (emulated)`, { 'retry-after': String(wait) });
}

/** A control reply: `value` as indented JSON with `contentType`, or no body when undefined. */
export function controlReplier(res: ServerResponse, contentType: string): (status: number, value: unknown) => void {
  return (status, value) => {
    const body = value === undefined ? undefined : JSON.stringify(value, null, 2);
    res.writeHead(status, body === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };
}

/**
 * `GET /_control/faults` (the faults in force) and `POST`/`PUT` (replace them; the setter checks,
 * and its RangeError is the caller's to answer). Answers the reply, or null for other requests.
 */
export function faultsControl(req: IncomingMessage, path: string, raw: Buffer, emulator: { faults: EmulatorFaults }): { status: number; value: unknown } | null {
  if (path !== '/_control/faults') return null;
  if (req.method === 'GET') return { status: 200, value: emulator.faults };
  if (req.method === 'POST' || req.method === 'PUT') {
    let value: unknown;
    try {
      value = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
    } catch {
      return { status: 400, value: { error: 'the body is not valid JSON' } };
    }
    emulator.faults = value as EmulatorFaults;
    return { status: 200, value: emulator.faults };
  }
  return null;
}

/** A path segment percent-decoded; bad encoding: 400. */
export function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new Refusal(400, `the path segment "${segment}" is not valid percent-encoding`);
  }
}

/** The whole body, up to `limit` bytes (beyond it `tooLarge`, and the rest is read but not kept). */
export async function readBody(req: IncomingMessage, limit: number): Promise<{ data: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) tooLarge = true;
    else chunks.push(buffer);
  }
  return { data: Buffer.concat(chunks), tooLarge };
}

/** Listen on `host:port` (0: a free port); answers the port and the base URL. */
export async function listenOn(server: Server, port: number, host: string): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

/** Close the server, cutting its open connections. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}
