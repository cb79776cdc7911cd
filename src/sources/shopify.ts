/** Shopify Admin API source (being written). */
import { NotImplementedError } from '../errors.js';
import type { CanonicalOrder } from './order.js';
import type { ShopApiSettings } from './shop-api.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';

export interface ShopifySettings extends ShopApiSettings {
  accessToken: string;
  apiVersion: string;
  api: 'graphql' | 'rest';
  money: 'shop' | 'presentment';
}

export class ShopifySource implements SourceAdapter {
  readonly type = 'shopify';
  readonly name: string;
  constructor(readonly settings: ShopifySettings) {
    this.name = settings.name;
  }
  describe(): Record<string, unknown> {
    return { type: this.type, url: this.settings.baseUrl };
  }
  // eslint-disable-next-line require-yield
  async *pull(_options: PullOptions): AsyncIterable<SourceRecord> {
    throw new NotImplementedError('the Shopify source', 'issue #5');
  }
  fetch(_id: string): Promise<SourceRecord | null> {
    throw new NotImplementedError('the Shopify source', 'issue #5');
  }
  parse(_record: SourceRecord): CanonicalOrder {
    throw new NotImplementedError('the Shopify source', 'issue #5');
  }
}
