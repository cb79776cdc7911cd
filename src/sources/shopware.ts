/** Shopware 6 Admin API source (being written). */
import { NotImplementedError } from '../errors.js';
import type { CanonicalOrder } from './order.js';
import type { ShopApiSettings } from './shop-api.js';
import type { PullOptions, SourceAdapter, SourceRecord } from './types.js';

export interface ShopwareSettings extends ShopApiSettings {
  clientId: string;
  clientSecret: string;
}

export class ShopwareSource implements SourceAdapter {
  readonly type = 'shopware';
  readonly name: string;
  constructor(readonly settings: ShopwareSettings) {
    this.name = settings.name;
  }
  describe(): Record<string, unknown> {
    return { type: this.type, url: this.settings.baseUrl };
  }
  // eslint-disable-next-line require-yield
  async *pull(_options: PullOptions): AsyncIterable<SourceRecord> {
    throw new NotImplementedError('the Shopware source', 'issue #5');
  }
  fetch(_id: string): Promise<SourceRecord | null> {
    throw new NotImplementedError('the Shopware source', 'issue #5');
  }
  parse(_record: SourceRecord): CanonicalOrder {
    throw new NotImplementedError('the Shopware source', 'issue #5');
  }
}
