/**
 * Figure "pull" (issue #5): records/s the WooCommerce source yields from the loopback
 * WooCommerce emulator (keyset paging through the shared HTTP client, refunds embedded, the
 * watermark checkpoints), against the raw page-fetch rate of the same server (undici GETs of
 * the same pages, offset paging, JSON parse, nothing else), at the same page size. Parsing
 * into canonical orders belongs to intake and is not timed here. No rate limit on either side:
 * this measures kontor, not the shop's allowance.
 */
import { request } from 'undici';
import { HttpClient } from '../../src/http/client.js';
import { WooCommerceSource } from '../../src/sources/woocommerce.js';
import { startWooCommerce, WC_CONSUMER_KEY, WC_CONSUMER_SECRET } from '../../test/emulators/woocommerce.js';
import { median, sideBySide, type Figure, type FigureOutcome } from '../harness.js';

const PAGE = 100;

export const pullFigure: Figure = {
  name: 'pull',
  description: 'orders/s the WooCommerce source pulls from the loopback emulator vs raw page fetches of the same server',
  // No goal is set by the issue; half the raw rate is ours.
  goal: { on: 'ratio', atLeast: 0.5 },
  async run(options): Promise<FigureOutcome> {
    const count = Math.min(options.orders, 10_000);
    const shop = await startWooCommerce();
    try {
      shop.seed(count);
      const auth = `Basic ${Buffer.from(`${WC_CONSUMER_KEY}:${WC_CONSUMER_SECRET}`).toString('base64')}`;
      const source = () =>
        new WooCommerceSource({
          name: 'bench',
          baseUrl: shop.url,
          pageSize: PAGE,
          window: { overlapMinutes: 10, lagSeconds: 0 },
          http: new HttpClient({ name: 'bench', retries: 0 }),
          consumerKey: WC_CONSUMER_KEY,
          consumerSecret: WC_CONSUMER_SECRET,
          refundsEndpoint: true,
        });
      const viaSource = async () => {
        const adapter = source();
        let n = 0;
        for await (const record of adapter.pull({ cursor: null })) n += record.raw.length > 0 ? 1 : 0;
        await adapter.close?.();
        return n;
      };
      const raw = async () => {
        let n = 0;
        for (let page = 1; ; page++) {
          const url = `${shop.url}/wp-json/wc/v3/orders?per_page=${PAGE}&page=${page}&orderby=modified&order=asc&dates_are_gmt=true&status=any`;
          const res = await request(url, { headers: { authorization: auth, accept: 'application/json' } });
          const list = (await res.body.json()) as unknown[];
          n += list.length;
          if (list.length < PAGE) return n;
        }
      };
      options.log(`pull: ${count} orders in the WooCommerce emulator, ${PAGE} per page`);
      const times = await sideBySide({ label: 'source', pass: viaSource }, { label: 'raw pages', pass: raw }, options.rounds, 1, options.log);
      const rate = (ms: number) => (count / ms) * 1000;
      const source_ = times.a.map(rate);
      const raw_ = times.b.map(rate);
      return {
        what: `orders/s over ${count.toLocaleString('en-US')} orders, ${PAGE} per page`,
        measured: { label: 'source', value: median(source_), unit: 'orders/s', samples: source_ },
        baseline: { label: 'raw pages', value: median(raw_), unit: 'orders/s', samples: raw_ },
        notes: [`the source also fetches the refunds of refunded orders through /refunds?parent= (${shop.stats.requests.toLocaleString('en-US')} requests in all rounds); the raw side only fetches pages`],
      };
    } finally {
      await shop.close();
    }
  },
};
