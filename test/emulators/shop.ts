/**
 * Loopback servers that imitate each shop's order API closely enough to break a naive
 * client: paging, records that change (and so move) while a pull pages through them, empty
 * pages, 429 storms, malformed records. Every source adapter passes the same conformance
 * suite against its shop's emulator (test/sources.conformance.test.ts); benchmarks pull from
 * them too.
 */

export type ShopKind = 'woocommerce' | 'shopify' | 'shopware';

export interface SeedOptions {
  /** Spread the orders' updated-at over this many days before now (default 30). */
  days?: number;
}

export interface ShopEmulator {
  readonly kind: ShopKind;
  /** http://127.0.0.1:PORT (the source's base_url). */
  readonly url: string;
  /**
   * Add n valid orders (ids continue from the last one), each reconciling exactly (Σ lines +
   * tax = total) in the currency and VAT rates of that shop's shipped mapping (WooCommerce and
   * Shopware: CHF at 8.1 % and 2.6 %; Shopify: SEK at 25 % and 12 %), status billable for it,
   * updated-at spread over the past days.
   */
  seed(n: number, options?: SeedOptions): void;
  /** Change an order (a line's quantity and the totals, consistently) and set its updated-at to now. */
  touch(id: string): void;
  /** Called before each list/search page is served, with that pull's 1-based page number. */
  beforePage: ((page: number) => void) | null;
  /** The next k list/search requests answer 429 with Retry-After: 0 (Shopify GraphQL: a THROTTLED error). */
  throttle(k: number): void;
  /** Make one order unreadable for kontor: an amount becomes "12,50". */
  corrupt(id: string): void;
  /** Every order the shop has: id → its current updated-at (ISO UTC). */
  orders(): Map<string, string>;
  readonly stats: { requests: number; listRequests: number; throttled: number };
  close(): Promise<void>;
}

export interface ConformanceSubject {
  kind: ShopKind;
  /** How the suite names it, when one shop is read in more than one way. */
  name?: string;
  start(): Promise<ShopEmulator>;
  /**
   * The source's block in config.yaml for this emulator (type, base_url, credentials, page_size
   * small enough for several pages), indented by four spaces, without the `mapping:` line.
   */
  sourceYaml(emulator: ShopEmulator, pageSize: number): string;
  /** The shipped mapping this shop's orders are booked with (a file in mappings/). */
  mapping: string;
}
