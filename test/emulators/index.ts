/** The shop emulators the source conformance suite runs every adapter against. */
import type { ConformanceSubject } from './shop.js';
import { shopifyRestSubject, shopifySubject } from './shopify.js';
import { shopwareSubject } from './shopware.js';
import { wooCommerceSubject } from './woocommerce.js';

export const SUBJECTS: (ConformanceSubject & { name: string })[] = [wooCommerceSubject, shopifySubject, shopifyRestSubject, shopwareSubject].map((s) => ({ ...s, name: s.name ?? s.kind }));
