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
}

export type LineKind = 'product' | 'shipping' | 'fee';

export interface OrderLine {
  kind: LineKind;
  /** The shop's line id. */
  ref: string;
  /** Where the line sits in the source record, for error messages (`line_items[1]`). */
  field: string;
  sku: string;
  name: string;
  quantity: number;
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
  method: string;
  title: string;
  transactionId: string;
  paidAt: string | null;
}

export interface CanonicalOrder {
  source: string;
  id: string;
  number: string;
  status: string;
  test: boolean;
  createdAt: string;
  updatedAt: string;
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
}
