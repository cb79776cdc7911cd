/**
 * The Run my Accounts emulator (src/targets/runmyaccounts/emulator.ts) in a process of its own,
 * for the delivery figures: the server's work does not share the event loop (or the CPU time
 * slices) of the client being measured, as a real Run my Accounts would not.
 *
 * Its latency (the latency figure's 20 ms) is waited out awake (LatencyTimer in
 * src/targets/emulator-kit.ts): answers leave on time, as a remote server's would, instead of
 * charging the client the timer's slack and the wake-ups of an idle process. The process has a
 * core of its own here (the bench needs 2), which it keeps busy while a request waits. And the
 * latency runs from a request's arrival to its answer, the emulator's handling inside it
 * (LatencyFrom `arrival`): one process handles every request in turn, and its own work would
 * otherwise come on top of the 20 ms and be charged to the client measured.
 *
 * Prints one JSON line `{"url": …, "key": …, "mandant": …}` once it listens; driven through its
 * `/_control/` resources (reset, faults, state); stops on SIGTERM or when stdin closes.
 */
import { startRunMyAccounts, type RmaChartAccount } from '../../src/targets/runmyaccounts/emulator.js';

export const BENCH_MANDANT = 'bench';
export const BENCH_KEY = 'rma-bench-key-0b7c1e';

/**
 * Accounts bench/mapping.yaml books on, as a mandant would add them to the base chart: the
 * income accounts with link AR_amount, the PSP clearing accounts with AR_paid, and the fee,
 * write-off and rounding accounts a payment may book on.
 */
export const BENCH_ACCOUNTS: RmaChartAccount[] = [
  ...['3200', '3201', '3202', '3210', '3220', '3240', '3250', '3400', '3600', '3680', '3801', '2060'].map((accno): RmaChartAccount => ({ accno, description: `Ertrag ${accno}`, category: 'I', link: 'AR_amount:IC_sale:IC_income' })),
  { accno: '1091', description: 'Clearing Stripe', category: 'A' as const, link: 'AR_paid' },
  { accno: '1092', description: 'Clearing TWINT', category: 'A' as const, link: 'AR_paid' },
];

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const emulator = await startRunMyAccounts({ mandants: [BENCH_MANDANT], key: BENCH_KEY, accounts: BENCH_ACCOUNTS, latencyTimer: 'awake', latencyFrom: 'arrival' });
  const stop = () => {
    void emulator.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ url: emulator.url, key: emulator.key, mandant: BENCH_MANDANT })}\n`);
}
