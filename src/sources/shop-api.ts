/**
 * What every shop API source is given: where the shop is, how to page, the pull window, and
 * the shared HTTP client (rate limit, retries, redaction).
 */
import type { HttpClient } from '../http/client.js';
import type { WindowOptions } from './watermark.js';

export interface ShopApiSettings {
  /** The source's name in config.yaml. */
  name: string;
  /** The shop's base URL, without a trailing slash. */
  baseUrl: string;
  /** Records per page; each API has its own default and maximum. */
  pageSize?: number | undefined;
  window: WindowOptions;
  http: HttpClient;
}
