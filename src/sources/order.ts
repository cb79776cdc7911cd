/**
 * The canonical order: what every source adapter turns its shop's records into, and the
 * only thing mappings see. Amounts are minor units of `currency`; dates are ISO-8601 UTC.
 */
import type { Minor, VatRate } from '../books/index.js';

export interface OrderAddress {
  street: string;
  street2: string;
  zipcode: string;
  city: string;
  state: string;
  country: string;
}

export interface OrderCustomer {
  /** The shop's customer id, or null for a guest checkout. */
  id: string | null;
  email: string;
  firstName: string;
  lastName: string;
  company: string;
  phone: string;
  vatId: string;
  billing: OrderAddress;
  /** Where the goods go; null when the shop has no separate shipping address (use billing). */
  shipping: OrderAddress | null;
}

/**
 * `discount`: a discount the shop reports as a line of its own (a Shopware promotion), negative,
 * at one VAT rate; a promotion spread over several rates becomes one line per rate. Discounts
 * the shop takes off line amounts (WooCommerce coupons, Shopify allocations) show as
 * `netBeforeDiscount` − `net` instead.
 */
export type LineKind = 'product' | 'shipping' | 'fee' | 'discount';

export interface OrderLine {
  kind: LineKind;
  /** The shop's line id. */
  ref: string;
  /** Where the line sits in the source record, for error messages (`line_items[1]`). */
  field: string;
  sku: string;
  name: string;
  quantity: number;
  /** The shop's product categories or tags of the line, as names; empty when the shop does not say. */
  categories: string[];
  /** Net amount before coupons (WooCommerce `subtotal`). */
  netBeforeDiscount: Minor;
  /** Net amount after coupons (WooCommerce `total`). */
  net: Minor;
  /** The shop's VAT on `net`. */
  tax: Minor;
  /** The shop's VAT on `netBeforeDiscount` (WooCommerce `subtotal_tax`). */
  taxBeforeDiscount: Minor;
  vatRate: VatRate;
}

export interface OrderCoupon {
  code: string;
  discount: Minor;
  discountTax: Minor;
}

export interface OrderTaxTotal {
  rate: VatRate;
  label: string;
  tax: Minor;
}

export interface OrderPayment {
  /** The shop's payment gateway id (`stripe`, `twint`, `bacs`). */
  method: string;
  title: string;
  transactionId: string;
  paidAt: string | null;
  /** What the provider collected, when the shop reports it; null means the order total. */
  amount: Minor | null;
  /** The provider's fee withheld from `amount`, when the shop reports it (D3); zero otherwise. */
  fee: Minor;
}

export interface OrderRefundLine {
  /** The `ref` of the order line this takes back. */
  lineRef: string;
  kind: LineKind;
  field: string;
  sku: string;
  name: string;
  quantity: number;
  /** What is taken back, positive: net and the VAT on it. */
  net: Minor;
  tax: Minor;
  vatRate: VatRate;
}

/**
 * A refund the shop recorded against an order. Amounts are positive (what is taken back).
 * A refund without lines is an amount-only refund: the credit note is spread over the
 * invoice's VAT rates in proportion.
 */
export interface OrderRefund {
  id: string;
  createdAt: string;
  reason: string;
  lines: OrderRefundLine[];
  /** Gross amount refunded. */
  total: Minor;
  /** Where the refund sits in the source record (`refunds[0]`). */
  field: string;
}

export interface CanonicalOrder {
  source: string;
  id: string;
  number: string;
  status: string;
  test: boolean;
  createdAt: string;
  updatedAt: string;
  /** When the shop marked the order completed (shipped), if it did. */
  completedAt: string | null;
  currency: string;
  pricesIncludeTax: boolean;
  customer: OrderCustomer;
  lines: OrderLine[];
  coupons: OrderCoupon[];
  /** The shop's own VAT totals per rate (items, fees and shipping together). */
  taxTotals: OrderTaxTotal[];
  totalTax: Minor;
  total: Minor;
  payment: OrderPayment | null;
  refunds: OrderRefund[];
  /** Free-form key/value data of the shop (WooCommerce meta_data, Shopify note attributes and tags), for mapping expressions. */
  meta: Record<string, string>;
}

/** A shipping or fee line: one unit, no categories, nothing taken off by coupons. */
export function chargeLine(line: Pick<OrderLine, 'kind' | 'ref' | 'field' | 'sku' | 'name' | 'net' | 'tax' | 'vatRate'>): OrderLine {
  return { ...line, quantity: 1, categories: [], netBeforeDiscount: line.net, taxBeforeDiscount: line.tax };
}
