/** What every shop emulator's server does alike: listen on a free loopback port, close hard. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/** Listen on 127.0.0.1 at a free port; answers the base URL. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Close the server and every kept-alive connection. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}

/** Now, to the whole second (shops store seconds). */
export const nowSecond = (): number => Math.floor(Date.now() / 1000) * 1000;

/**
 * Updated-at stamps for n seeded orders, whole seconds spread over the `days` before now
 * (or all at `at`), rising with the order id as in a shop.
 */
export function seedTimes(n: number, days: number, rand: () => number, at?: Date): number[] {
  const now = nowSecond();
  const span = days * 86_400_000;
  return Array.from({ length: n }, () => (at ? Math.floor(at.getTime() / 1000) * 1000 : now - 1000 - Math.floor((rand() * span) / 1000) * 1000)).sort((a, b) => a - b);
}
