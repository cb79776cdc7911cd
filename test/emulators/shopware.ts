/**
 * A loopback Shopware 6 Admin API: OAuth client credentials and `POST /api/search/order`.
 *
 * What it imitates, because a client must get it right:
 * - `POST /api/oauth/token` (JSON or form body, grant_type client_credentials) answers
 *   `{token_type, expires_in, access_token}`; wrong credentials answer 401. Tokens expire
 *   after `tokenTtlSeconds` (a few seconds in tests), and `revokeTokens()` ends them at once:
 *   a request with a missing, unknown or expired token answers 401.
 * - Plain JSON only for `Accept: application/json`; anything else gets JSON:API
 *   (`application/vnd.api+json`, the entity's fields under `attributes`), as Shopware does.
 * - The DAL criteria subset a client needs: `filter` (equals with the null-safe `<=>`,
 *   equalsAny, range gt/gte/lt/lte, multi AND|OR, not AND|OR, with SQL's three-valued logic),
 *   `sort` (ASC puts nulls first, like MySQL), `page`/`limit` (offsets), `ids`,
 *   `total-count-mode`, and `associations`: an association not asked for comes back null.
 * - Dates in filters may be ISO 8601 or the DAL's storage format (`2026-03-14 09:12:45.123`,
 *   UTC); entities carry RFC 3339 with milliseconds and offset; updatedAt is null until the
 *   first update.
 *
 * Orders are built from a small spec (lines, shipping, promotion, customer, state) with
 * Shopware's money model in integer Rappen: gross or net tax status, taxes per line rounded,
 * promotions as negative lines spread over the cart's rates with the raw float shares,
 * order taxes summed per rate ("horizontal"), the total cash-rounded to 0.05.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { intIn, lcg } from '../random.js';
import type { ConformanceSubject, SeedOptions, ShopEmulator } from './shop.js';

type Json = Record<string, unknown>;

export interface ShopwareEmulatorOptions {
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of an access token (default 600, Shopware's 10 minutes). */
  tokenTtlSeconds?: number;
  /** Seed of the order generator (default 6). */
  seed?: number;
}

export interface ShopwareSeedOptions extends SeedOptions {
  /**
   * Every order of this batch at one instant: never-updated ones created then, updated ones
   * created an hour before and updated then (ties across page boundaries).
   */
  at?: Date;
  /** Share of orders never updated (default 0.25). */
  neverUpdated?: number;
}

export interface ShopwareStats {
  requests: number;
  /** Searches over a time range (pages of a pull). */
  listRequests: number;
  /** Searches by id (fetch). */
  idRequests: number;
  throttled: number;
  tokenRequests: number;
  /** Requests refused for a missing, unknown or expired token. */
  unauthorized: number;
}

export interface ShopwareEmulator extends ShopEmulator {
  readonly kind: 'shopware';
  readonly stats: ShopwareStats;
  tokenTtlSeconds: number;
  seed(n: number, options?: ShopwareSeedOptions): void;
  /** End every access token now: the next request with one answers 401. */
  revokeTokens(): void;
  /** The order entity as the shop holds it, with every association (a copy). */
  entity(id: string): Json;
  /** The criteria of every search request, in order. */
  readonly searches: Json[];
  /** Change the served entity itself, past what the spec can say (gone on the next touch). */
  mutate(id: string, change: (entity: Json) => void): void;
}

export const CLIENT_ID = 'SWIA_TEST';
export const CLIENT_SECRET = 'secret_test';

// ---------------------------------------------------------------------------------------------
// Orders: a spec, and the entity Shopware would serve for it.

interface Product {
  sku: string;
  label: string;
  /** Gross Rappen for gross orders, net Rappen for net orders. */
  price: number;
  /** Basis points: 810 = 8.1 %. */
  rate: number;
  category: string;
}

const RETAIL: Product[] = [
  { sku: 'KAESE-GRUY-500', label: 'Gruyère AOP surchoix, 500 g', price: 1490, rate: 260, category: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d' },
  { sku: 'TEE-ALPEN-100', label: 'Alpenkräutertee, 100 g', price: 650, rate: 260, category: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d' },
  { sku: 'SCHOKO-NOIR-200', label: 'Schokolade Noir 72 %, 200 g', price: 495, rate: 260, category: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d' },
  { sku: 'HONIG-BERG-500', label: 'Berghonig, 500 g', price: 1680, rate: 260, category: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d' },
  { sku: 'BUCH-ALPENKUECHE', label: 'Kochbuch «Alpenküche»', price: 3900, rate: 260, category: 'b3c4d5e6f7a84b9c0d1e2f3a4b5c6d7e' },
  { sku: 'KUECHE-RACL-OFEN2', label: 'Raclette-Ofen Nendaz für 2', price: 8900, rate: 810, category: 'c5d6e7f8a9b04c1d2e3f4a5b6c7d8e9f' },
  { sku: 'KUECHE-FOND-GUSS', label: 'Fondue-Caquelon Gusseisen', price: 12900, rate: 810, category: 'c5d6e7f8a9b04c1d2e3f4a5b6c7d8e9f' },
  { sku: 'MESSER-SET-3', label: 'Küchenmesser-Set, 3-teilig', price: 5490, rate: 810, category: 'c5d6e7f8a9b04c1d2e3f4a5b6c7d8e9f' },
  { sku: 'TUCH-LEINEN', label: 'Geschirrtuch Leinen', price: 1250, rate: 810, category: 'c5d6e7f8a9b04c1d2e3f4a5b6c7d8e9f' },
];

const WHOLESALE: Product[] = [
  { sku: 'GASTRO-RACL-DUO', label: 'Raclette-Gerät Gastro Duo', price: 41500, rate: 810, category: 'd7e8f9a0b1c24d3e4f5a6b7c8d9e0f1a' },
  { sku: 'GASTRO-CAQ-10', label: 'Caquelon Gastro, 10 Stück', price: 18900, rate: 810, category: 'd7e8f9a0b1c24d3e4f5a6b7c8d9e0f1a' },
  { sku: 'GASTRO-KAESE-5KG', label: 'Raclettekäse Laib, 5 kg', price: 9650, rate: 260, category: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d' },
];

interface Person {
  firstName: string;
  lastName: string;
  email: string;
  street: string;
  zipcode: string;
  city: string;
  state: string;
  company: string | null;
  vatId: string | null;
}

const PEOPLE: Person[] = [
  { firstName: 'Reto', lastName: 'Gerber', email: 'reto.gerber@example.ch', street: 'Kramgasse 12', zipcode: '3011', city: 'Bern', state: 'CH-BE', company: null, vatId: null },
  { firstName: 'Anna', lastName: 'Meier', email: 'anna.meier@example.ch', street: 'Seefeldstrasse 88', zipcode: '8008', city: 'Zürich', state: 'CH-ZH', company: null, vatId: null },
  { firstName: 'Luca', lastName: 'Bernasconi', email: 'luca.b@example.ch', street: 'Via Nassa 5', zipcode: '6900', city: 'Lugano', state: 'CH-TI', company: null, vatId: null },
  { firstName: 'Claire', lastName: 'Rochat', email: 'c.rochat@example.ch', street: 'Rue du Rhône 40', zipcode: '1204', city: 'Genève', state: 'CH-GE', company: null, vatId: null },
  { firstName: 'Sandra', lastName: 'Huber', email: 'sandra.huber@example.ch', street: 'Bahnhofstrasse 3', zipcode: '6003', city: 'Luzern', state: 'CH-LU', company: null, vatId: null },
];

const COMPANIES: Person[] = [
  { firstName: 'Martina', lastName: 'Keller', email: 'einkauf@sternen-thalwil.ch', street: 'Alte Landstrasse 21', zipcode: '8800', city: 'Thalwil', state: 'CH-ZH', company: 'Gasthaus Sternen AG', vatId: 'CHE-109.322.551 MWST' },
  { firstName: 'Peter', lastName: 'Zurbriggen', email: 'office@hotel-matterhorn.ch', street: 'Bahnhofplatz 1', zipcode: '3920', city: 'Zermatt', state: 'CH-VS', company: 'Hotel Matterhorn GmbH', vatId: 'CHE-123.456.788 MWST' },
];

type PaymentName = 'payment_twint' | 'payment_stripe' | 'payment_paypal' | 'payment_prepayment' | 'payment_invoicepayment';

const PAYMENTS: Record<PaymentName, { name: string; shortName: string; handler: string }> = {
  payment_twint: { name: 'TWINT', shortName: 'twint', handler: 'Swag\\Twint\\TwintPayment' },
  payment_stripe: { name: 'Kreditkarte', shortName: 'stripe_card', handler: 'Stripe\\ShopwarePayment\\Card' },
  payment_paypal: { name: 'PayPal', shortName: 'paypal', handler: 'Swag\\PayPal\\Checkout\\Payment\\PayPalPaymentHandler' },
  payment_prepayment: { name: 'Vorkasse', shortName: 'pre_payment', handler: 'Shopware\\Core\\Checkout\\Payment\\Cart\\PaymentHandler\\PrePayment' },
  payment_invoicepayment: { name: 'Rechnung', shortName: 'invoice_payment', handler: 'Shopware\\Core\\Checkout\\Payment\\Cart\\PaymentHandler\\InvoicePayment' },
};

type OrderState = 'open' | 'in_progress' | 'completed';
const STATE_NAMES: Record<string, string> = { open: 'Offen', in_progress: 'In Bearbeitung', completed: 'Abgeschlossen', paid: 'Bezahlt', shipped: 'Versandt' };

interface Spec {
  n: number;
  id: string;
  taxStatus: 'gross' | 'net';
  lines: { product: Product; quantity: number; updatedAt: string | null }[];
  /** Shipping in Rappen (gross or net as the order), 8.1 %. */
  shipping: number;
  promotion: { code: string; label: string; kind: 'absolute' | 'percentage'; value: number } | null;
  person: Person;
  customerNumber: string;
  guest: boolean;
  /** A separate delivery address (else the delivery reuses the billing address row). */
  shipTo: Person | null;
  payment: PaymentName;
  state: OrderState;
  createdAt: string;
  updatedAt: string | null;
  corrupt: boolean;
}

/** Shopware's id shape: 32 lowercase hex digits; kind tells entities apart, n the order. */
function hexId(kind: number, n: number, i = 0): string {
  return `0191${kind.toString(16).padStart(4, '0')}${n.toString(16).padStart(16, '0')}${i.toString(16).padStart(8, '0')}`;
}

const VERSION = '0fa91ce3e96a4bc2be4bd9ce752c3425';
const CURRENCY_ID = 'a7e3b1d2c4f54e6a8b9c0d1e2f3a4b5c';
const COUNTRY_ID = '5c2e0b9a7d8f4e1a9b3c6d5e4f7a8b90';
const SHIPPING_METHOD_ID = 'd1e2f3a4b5c64d7e8f9a0b1c2d3e4f5a';
const SETUP_TIME = '2025-11-02T10:00:00.000+00:00';

/** RFC 3339 as Shopware writes it: milliseconds and +00:00. */
function swDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+00:00');
}

/** PHP's round(): half away from zero, to whole Rappen. */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** Tax in Rappen of an amount in Rappen at `rate` basis points, inside (gross) or on top (net); exact integer half-up. */
function taxOf(amount: number, rate: number, gross: boolean): number {
  const num = BigInt(Math.abs(amount)) * BigInt(rate);
  const den = BigInt(gross ? 10_000 + rate : 10_000);
  const q = (num * 2n + den) / (den * 2n);
  return Math.sign(amount) * Number(q);
}

const chf = (rappen: number) => rappen / 100;
const ratePercent = (bp: number) => bp / 100;

function calculatedPrice(unit: number, quantity: number, total: number, taxes: { tax: number; rate: number; price: number }[], rules: { rate: number; percentage: number }[]): Json {
  return {
    unitPrice: chf(unit),
    quantity,
    totalPrice: chf(total),
    calculatedTaxes: taxes.map((t) => ({ tax: chf(t.tax), taxRate: ratePercent(t.rate), price: t.price, apiAlias: 'cart_tax_calculated' })),
    taxRules: rules.map((r) => ({ taxRate: ratePercent(r.rate), percentage: r.percentage, apiAlias: 'cart_tax_rule' })),
    referencePrice: null,
    listPrice: null,
    regulationPrice: null,
    apiAlias: 'calculated_price',
  };
}

function stateEntity(id: string, technicalName: string): Json {
  return {
    id,
    technicalName,
    name: STATE_NAMES[technicalName] ?? technicalName,
    stateMachineId: 'e0c2d8f1a3b54c6d9e7f8a1b2c3d4e5f',
    customFields: null,
    createdAt: SETUP_TIME,
    updatedAt: null,
    translated: { name: STATE_NAMES[technicalName] ?? technicalName, customFields: {} },
    apiAlias: 'state_machine_state',
  };
}

const COUNTRY = {
  id: COUNTRY_ID,
  name: 'Schweiz',
  iso: 'CH',
  iso3: 'CHE',
  position: 1,
  active: true,
  shippingAvailable: true,
  customFields: null,
  createdAt: SETUP_TIME,
  updatedAt: null,
  translated: { name: 'Schweiz', customFields: {} },
  apiAlias: 'country',
};

const ROUNDING = (interval: number) => ({ decimals: 2, interval, roundForNet: true, apiAlias: 'shopware_core_framework_data_abstraction_layer_pricing_cash_rounding_config' });

const CURRENCY = {
  id: CURRENCY_ID,
  isoCode: 'CHF',
  factor: 1,
  symbol: 'CHF',
  shortName: 'CHF',
  name: 'Schweizer Franken',
  decimalPrecision: 2,
  position: 1,
  isSystemDefault: true,
  taxFreeFrom: 0,
  itemRounding: ROUNDING(0.01),
  totalRounding: ROUNDING(0.05),
  customFields: null,
  createdAt: SETUP_TIME,
  updatedAt: null,
  translated: { shortName: 'CHF', name: 'Schweizer Franken', customFields: {} },
  apiAlias: 'currency',
};

function addressEntity(id: string, orderId: string, p: Person, created: string): Json {
  return {
    id,
    versionId: VERSION,
    countryId: COUNTRY_ID,
    countryStateId: hexId(0x51, p.state.charCodeAt(3) * 256 + p.state.charCodeAt(4)),
    orderId,
    orderVersionId: VERSION,
    salutationId: 'b2a6c0d4e8f14a3b9c7d5e1f2a3b4c5d',
    firstName: p.firstName,
    lastName: p.lastName,
    street: p.street,
    zipcode: p.zipcode,
    city: p.city,
    company: p.company,
    department: null,
    title: null,
    vatId: p.vatId,
    phoneNumber: null,
    additionalAddressLine1: null,
    additionalAddressLine2: null,
    customFields: null,
    country: COUNTRY,
    countryState: {
      id: hexId(0x51, p.state.charCodeAt(3) * 256 + p.state.charCodeAt(4)),
      countryId: COUNTRY_ID,
      shortCode: p.state,
      name: p.state.slice(3),
      position: 1,
      active: true,
      customFields: null,
      createdAt: SETUP_TIME,
      updatedAt: null,
      translated: { name: p.state.slice(3), customFields: {} },
      apiAlias: 'country_state',
    },
    createdAt: created,
    updatedAt: null,
    apiAlias: 'order_address',
  };
}

/** The order entity of a spec, as `data[]` of a search with every association. */
function buildOrder(s: Spec): Json {
  const gross = s.taxStatus === 'gross';
  const created = s.createdAt;
  const id = s.id;
  // Lines: total = unit × quantity; one tax per line, rounded (item rounding 0.01).
  const lineItems: Json[] = [];
  const perRate = new Map<number, { tax: number; price: number }>();
  const addTax = (rate: number, tax: number, price: number) => {
    const t = perRate.get(rate) ?? { tax: 0, price: 0 };
    perRate.set(rate, { tax: t.tax + tax, price: t.price + price });
  };
  let positions = 0;
  const grossByRate = new Map<number, number>();
  s.lines.forEach((line, i) => {
    const total = line.product.price * line.quantity;
    const tax = taxOf(total, line.product.rate, gross);
    positions += total;
    grossByRate.set(line.product.rate, (grossByRate.get(line.product.rate) ?? 0) + total);
    // Shopware's float: unitPrice × quantity, with its noise (29.799999999999997).
    const priceShare = chf(line.product.price) * line.quantity;
    addTax(line.product.rate, tax, priceShare);
    lineItems.push({
      id: hexId(0x10, s.n, i),
      versionId: VERSION,
      orderId: id,
      orderVersionId: VERSION,
      productId: hexId(0x20, line.product.sku.length, RETAIL.concat(WHOLESALE).indexOf(line.product)),
      productVersionId: VERSION,
      promotionId: null,
      parentId: null,
      parentVersionId: VERSION,
      coverId: null,
      identifier: hexId(0x20, line.product.sku.length, i),
      referencedId: hexId(0x20, line.product.sku.length, i),
      quantity: line.quantity,
      label: line.product.label,
      payload: {
        isCloseout: false,
        customFields: {},
        productNumber: line.product.sku,
        categoryIds: [line.product.category],
        options: [],
        stock: 40,
      },
      good: true,
      removable: true,
      stackable: true,
      position: i + 1,
      states: ['is-physical'],
      price: calculatedPrice(line.product.price, line.quantity, total, [{ tax, rate: line.product.rate, price: priceShare }], [{ rate: line.product.rate, percentage: 100 }]),
      priceDefinition: { price: chf(line.product.price), taxRules: [{ taxRate: ratePercent(line.product.rate), percentage: 100, apiAlias: 'cart_tax_rule' }], quantity: line.quantity, isCalculated: true, type: 'quantity' },
      unitPrice: chf(line.product.price),
      totalPrice: chf(total),
      description: null,
      type: 'product',
      customFields: null,
      createdAt: created,
      updatedAt: line.updatedAt,
      apiAlias: 'order_line_item',
    });
  });

  // A cart promotion: a negative line spread over the rates by their share of the goods,
  // with the raw float shares Shopware keeps and one rounded tax per rate.
  if (s.promotion) {
    const discount = s.promotion.kind === 'absolute' ? s.promotion.value : Math.round((positions * s.promotion.value) / 100);
    const rates = [...grossByRate.keys()].sort((a, b) => a - b);
    const shares = rates.map((rate) => {
      const price = -(chf(discount) * grossByRate.get(rate)!) / positions;
      // The tax inside a gross share (promotions are only made for gross orders here).
      return { rate, price, tax: roundHalfAway((price * 100 * rate) / (10_000 + rate)) };
    });
    for (const sh of shares) addTax(sh.rate, sh.tax, sh.price);
    positions -= discount;
    lineItems.push({
      id: hexId(0x10, s.n, 0xff),
      versionId: VERSION,
      orderId: id,
      orderVersionId: VERSION,
      productId: null,
      productVersionId: VERSION,
      promotionId: hexId(0x30, s.promotion.code.length),
      parentId: null,
      parentVersionId: VERSION,
      coverId: null,
      identifier: s.promotion.code,
      referencedId: s.promotion.code,
      quantity: 1,
      label: s.promotion.label,
      payload: {
        promotionId: hexId(0x30, s.promotion.code.length),
        discountId: hexId(0x31, s.promotion.code.length),
        code: s.promotion.code,
        discountType: s.promotion.kind,
        value: String(s.promotion.value / (s.promotion.kind === 'absolute' ? 100 : 1)),
        maxValue: '',
        discountScope: 'cart',
        groupId: '',
        exclusions: [],
        preventCombination: false,
        promotionCodeType: 'fixed',
      },
      good: false,
      removable: true,
      stackable: false,
      position: s.lines.length + 1,
      states: [],
      price: calculatedPrice(
        -discount,
        1,
        -discount,
        shares.map((sh) => ({ tax: sh.tax, rate: sh.rate, price: sh.price })),
        shares.map((sh) => ({ rate: sh.rate, percentage: (-sh.price / chf(discount)) * 100 })),
      ),
      priceDefinition: { price: -chf(discount), precision: 2, filter: null, type: s.promotion.kind },
      unitPrice: -chf(discount),
      totalPrice: -chf(discount),
      description: s.promotion.label,
      type: 'promotion',
      customFields: null,
      createdAt: created,
      updatedAt: null,
      apiAlias: 'order_line_item',
    });
  }

  const shippingTax = taxOf(s.shipping, 810, gross);
  const shippingCosts = calculatedPrice(s.shipping, 1, s.shipping, s.shipping === 0 ? [] : [{ tax: shippingTax, rate: 810, price: chf(s.shipping) }], [{ rate: 810, percentage: 100 }]);
  if (s.shipping !== 0) addTax(810, shippingTax, chf(s.shipping));

  const taxes = [...perRate.entries()].sort(([a], [b]) => a - b);
  const totalTax = taxes.reduce((a, [, t]) => a + t.tax, 0);
  const raw = gross ? positions + s.shipping : positions + s.shipping + totalTax;
  const total = Math.round(raw / 5) * 5; // cash rounding to 0.05
  const net = gross ? raw - totalTax : positions + s.shipping;
  const orderTaxes = taxes.map(([rate, t]) => ({ tax: t.tax, rate, price: t.price }));
  const price = {
    netPrice: chf(net),
    totalPrice: chf(total),
    calculatedTaxes: orderTaxes.map((t) => ({ tax: chf(t.tax), taxRate: ratePercent(t.rate), price: t.price, apiAlias: 'cart_tax_calculated' })),
    taxRules: taxes.map(([rate]) => ({ taxRate: ratePercent(rate), percentage: 100, apiAlias: 'cart_tax_rule' })),
    positionPrice: chf(positions),
    rawTotal: chf(raw),
    taxStatus: s.taxStatus,
    apiAlias: 'cart_price',
  };

  const billingId = hexId(0x40, s.n, 0);
  const shippingAddressId = s.shipTo ? hexId(0x40, s.n, 1) : billingId;
  const billing = addressEntity(billingId, id, s.person, created);
  const shipTo = s.shipTo ? addressEntity(shippingAddressId, id, s.shipTo, created) : billing;
  const paid = s.state !== 'open' && s.payment !== 'payment_invoicepayment';
  const transactionState = paid ? 'paid' : 'open';
  const method = PAYMENTS[s.payment];
  const customerId = hexId(0x60, s.guest ? 0x10_0000 + s.n : Number(s.customerNumber.slice(2)));

  const order: Json = {
    id,
    versionId: VERSION,
    autoIncrement: 10_000 + s.n,
    orderNumber: String(10_000 + s.n),
    billingAddressId: billingId,
    billingAddressVersionId: VERSION,
    currencyId: CURRENCY_ID,
    languageId: '2fbb5fe2e29a4d70aa5854ce7ce3e20b',
    salesChannelId: '98432def39fc4624b33213a56b8c944d',
    orderDateTime: created,
    orderDate: `${created.slice(0, 10)}T00:00:00.000+00:00`,
    price,
    amountTotal: chf(total),
    amountNet: chf(net),
    positionPrice: chf(positions),
    taxStatus: s.taxStatus,
    shippingCosts,
    shippingTotal: chf(s.shipping),
    currencyFactor: 1,
    deepLinkCode: randomToken(s.n),
    affiliateCode: null,
    campaignCode: null,
    customerComment: null,
    source: null,
    stateId: hexId(0x70, 0, ['open', 'in_progress', 'completed'].indexOf(s.state)),
    ruleIds: [],
    customFields: { kontor_channel: 'webshop' },
    createdById: null,
    updatedById: s.updatedAt ? '6c1d2e3f4a5b4c6d8e7f9a0b1c2d3e4f' : null,
    itemRounding: ROUNDING(0.01),
    totalRounding: ROUNDING(0.05),
    createdAt: created,
    updatedAt: s.updatedAt,
    stateMachineState: stateEntity(hexId(0x70, 0, ['open', 'in_progress', 'completed'].indexOf(s.state)), s.state),
    orderCustomer: {
      id: hexId(0x50, s.n),
      versionId: VERSION,
      customerId,
      orderId: id,
      orderVersionId: VERSION,
      email: s.person.email,
      salutationId: 'b2a6c0d4e8f14a3b9c7d5e1f2a3b4c5d',
      firstName: s.person.firstName,
      lastName: s.person.lastName,
      company: s.person.company,
      title: null,
      vatIds: s.person.vatId ? [s.person.vatId] : null,
      customerNumber: s.customerNumber,
      customFields: null,
      remoteAddress: '2a02:1210:5e0a::',
      createdAt: created,
      updatedAt: null,
      customer: {
        id: customerId,
        customerNumber: s.customerNumber,
        email: s.person.email,
        firstName: s.person.firstName,
        lastName: s.person.lastName,
        company: s.person.company,
        guest: s.guest,
        active: true,
        createdAt: SETUP_TIME,
        updatedAt: null,
        apiAlias: 'customer',
      },
      apiAlias: 'order_customer',
    },
    currency: CURRENCY,
    billingAddress: billing,
    addresses: s.shipTo ? [billing, shipTo] : [billing],
    lineItems,
    deliveries: [
      {
        id: hexId(0x80, s.n),
        versionId: VERSION,
        orderId: id,
        orderVersionId: VERSION,
        shippingOrderAddressId: shippingAddressId,
        shippingOrderAddressVersionId: VERSION,
        shippingMethodId: SHIPPING_METHOD_ID,
        stateId: hexId(0x70, 1, s.state === 'completed' ? 1 : 0),
        trackingCodes: s.state === 'completed' ? [`99.60.${String(100_000 + s.n)}.${String(10_000_000 + s.n)}`] : [],
        shippingDateEarliest: `${created.slice(0, 10)}T00:00:00.000+00:00`,
        shippingDateLatest: `${created.slice(0, 10)}T00:00:00.000+00:00`,
        shippingCosts,
        customFields: null,
        createdAt: created,
        updatedAt: s.updatedAt,
        stateMachineState: stateEntity(hexId(0x70, 1, s.state === 'completed' ? 1 : 0), s.state === 'completed' ? 'shipped' : 'open'),
        shippingOrderAddress: shipTo,
        shippingMethod: {
          id: SHIPPING_METHOD_ID,
          name: 'PostPac Priority',
          technicalName: 'shipping_postpac_priority',
          active: true,
          position: 1,
          customFields: null,
          taxType: 'auto',
          taxId: null,
          createdAt: SETUP_TIME,
          updatedAt: null,
          translated: { name: 'PostPac Priority', customFields: {} },
          apiAlias: 'shipping_method',
        },
        apiAlias: 'order_delivery',
      },
    ],
    transactions: [
      {
        id: hexId(0x90, s.n),
        versionId: VERSION,
        orderId: id,
        orderVersionId: VERSION,
        paymentMethodId: hexId(0x91, Object.keys(PAYMENTS).indexOf(s.payment)),
        amount: calculatedPrice(total, 1, total, orderTaxes, taxes.map(([rate]) => ({ rate, percentage: 100 }))),
        stateId: hexId(0x70, 2, paid ? 1 : 0),
        customFields: null,
        createdAt: created,
        updatedAt: paid ? s.updatedAt : null,
        stateMachineState: stateEntity(hexId(0x70, 2, paid ? 1 : 0), transactionState),
        paymentMethod: {
          id: hexId(0x91, Object.keys(PAYMENTS).indexOf(s.payment)),
          pluginId: null,
          handlerIdentifier: method.handler,
          name: method.name,
          distinguishableName: method.name,
          position: 1,
          active: true,
          afterOrderEnabled: true,
          customFields: null,
          formattedHandlerIdentifier: `handler_${method.shortName}`,
          synchronous: true,
          asynchronous: false,
          shortName: method.shortName,
          technicalName: s.payment,
          createdAt: SETUP_TIME,
          updatedAt: null,
          translated: { name: method.name, distinguishableName: method.name, customFields: {} },
          apiAlias: 'payment_method',
        },
        apiAlias: 'order_transaction',
      },
    ],
    apiAlias: 'order',
  };
  if (s.corrupt) {
    // A value kontor must refuse: a decimal comma in a line's amount.
    ((lineItems[0]!.price as Json).totalPrice as unknown) = '12,50';
  }
  return order;
}

function randomToken(n: number): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  const next = lcg(n * 7919 + 1);
  return Array.from({ length: 32 }, () => alphabet[intIn(next, 0, alphabet.length - 1)]).join('');
}

// ---------------------------------------------------------------------------------------------
// The association tree of an order, for leaving out what a search did not ask for.

interface Tree {
  [name: string]: Tree;
}

const ORDER_ASSOCIATIONS: Tree = {
  lineItems: {},
  deliveries: { shippingMethod: {}, shippingOrderAddress: { country: {}, countryState: {} }, stateMachineState: {} },
  transactions: { paymentMethod: {}, stateMachineState: {} },
  currency: {},
  orderCustomer: { customer: {} },
  billingAddress: { country: {}, countryState: {} },
  addresses: { country: {}, countryState: {} },
  stateMachineState: {},
};

/** The criteria's `associations` (nested `{name: {associations: …}}` or dotted keys) as a tree. */
function requestedTree(associations: unknown): Tree {
  const tree: Tree = {};
  if (!isObject(associations)) return tree;
  for (const [key, value] of Object.entries(associations)) {
    let node = tree;
    for (const part of key.split('.')) node = node[part] ??= {};
    const nested = requestedTree(isObject(value) ? value.associations : undefined);
    merge(node, nested);
  }
  return tree;
}

function merge(into: Tree, from: Tree): void {
  for (const [k, v] of Object.entries(from)) merge((into[k] ??= {}), v);
}

/** The entity with every association outside `requested` set to null, as Shopware leaves unloaded ones. */
function project(value: unknown, spec: Tree, requested: Tree): unknown {
  if (Array.isArray(value)) return value.map((v) => project(v, spec, requested));
  if (!isObject(value)) return value;
  const out: Json = { ...value };
  for (const [name, sub] of Object.entries(spec)) {
    if (!(name in out)) continue;
    out[name] = requested[name] ? project(out[name], sub, requested[name]) : null;
  }
  return out;
}

/** A key naming the part of the association tree a request asked for (cache key of a projection). */
function projectionKey(spec: Tree, requested: Tree): string {
  return Object.keys(spec)
    .filter((k) => requested[k])
    .map((k) => `${k}(${projectionKey(spec[k]!, requested[k]!)})`)
    .join(',');
}

// ---------------------------------------------------------------------------------------------
// DAL criteria.

class CriteriaError extends Error {}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const DATE_FIELD = /(At|DateTime|Date)$/;

/** ISO 8601, or the DAL's storage format (UTC), as epoch ms. */
function dateValue(value: unknown): number {
  if (typeof value !== 'string') throw new CriteriaError(`not a date: ${JSON.stringify(value)}`);
  const iso = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(value) ? `${value.replace(' ', 'T')}Z` : /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new CriteriaError(`not a date: ${JSON.stringify(value)}`);
  return ms;
}

function fieldValue(entity: Json, path: string): unknown {
  const parts = path.replace(/^order\./, '').split('.');
  let v: unknown = entity;
  for (const p of parts) {
    if (!isObject(v)) return null;
    v = v[p];
  }
  return v === undefined ? null : v;
}

/** A value comparable with `<`: dates as ms, else itself. */
function comparable(field: string, value: unknown): unknown {
  if (value === null) return null;
  return DATE_FIELD.test(field) ? dateValue(value) : value;
}

type Truth = boolean | null;

function combine(operator: unknown, values: Truth[]): Truth {
  const op = String(operator ?? 'and').toLowerCase();
  if (op === 'and') return values.includes(false) ? false : values.includes(null) ? null : true;
  if (op === 'or') return values.includes(true) ? true : values.includes(null) ? null : false;
  throw new CriteriaError(`unknown operator ${JSON.stringify(operator)}`);
}

/** SQL's three-valued logic: NULL compares to nothing, `<=>` (equals) compares NULL too. */
function evaluate(entity: Json, filter: unknown): Truth {
  if (!isObject(filter)) throw new CriteriaError('a filter must be an object');
  const type = filter.type;
  if (type === 'multi' || type === 'not') {
    if (!Array.isArray(filter.queries)) throw new CriteriaError(`${String(type)}: queries must be a list`);
    const inner = combine(filter.operator, filter.queries.map((q) => evaluate(entity, q)));
    return type === 'multi' ? inner : inner === null ? null : !inner;
  }
  if (typeof filter.field !== 'string') throw new CriteriaError(`${String(type)}: field is missing`);
  const field = filter.field;
  const actual = comparable(field, fieldValue(entity, field));
  switch (type) {
    case 'equals': {
      if (filter.value === null || filter.value === undefined) return actual === null;
      if (actual === null) return false;
      return actual === comparable(field, field.endsWith('id') || field.endsWith('Id') ? String(filter.value).toLowerCase() : filter.value);
    }
    case 'equalsAny': {
      const values = Array.isArray(filter.value) ? filter.value : typeof filter.value === 'string' ? filter.value.split('|') : null;
      if (!values) throw new CriteriaError('equalsAny: value must be a list');
      if (actual === null) return null;
      return values.some((v) => comparable(field, typeof v === 'string' && /id$/i.test(field) ? v.toLowerCase() : v) === actual);
    }
    case 'range': {
      const p = isObject(filter.parameters) ? filter.parameters : null;
      if (!p) throw new CriteriaError('range: parameters are missing');
      if (actual === null) return null;
      const a = actual as number | string;
      const bound = (k: string) => comparable(field, p[k]) as number | string;
      if (p.gt !== undefined && !(a > bound('gt'))) return false;
      if (p.gte !== undefined && !(a >= bound('gte'))) return false;
      if (p.lt !== undefined && !(a < bound('lt'))) return false;
      if (p.lte !== undefined && !(a <= bound('lte'))) return false;
      return true;
    }
    case 'contains':
      return actual === null ? null : String(actual).includes(String(filter.value));
    default:
      throw new CriteriaError(`unsupported filter type ${JSON.stringify(type)}`);
  }
}

function compareValues(a: unknown, b: unknown): number {
  // MySQL: NULL sorts first ascending.
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A Shopware error answer. */
function errorBody(status: number, title: string, detail: string): string {
  return JSON.stringify({ errors: [{ status: String(status), code: `FRAMEWORK__${title.toUpperCase().replace(/\W+/g, '_')}`, title, detail, meta: { parameters: [] } }] });
}

// ---------------------------------------------------------------------------------------------

interface StoredOrder {
  spec: Spec;
  entity: Json;
  /** Projection key → the entity's JSON text for it. */
  json: Map<string, string>;
}

class Shop implements ShopwareEmulator {
  readonly kind = 'shopware' as const;
  url = '';
  beforePage: ((page: number) => void) | null = null;
  readonly stats: ShopwareStats = { requests: 0, listRequests: 0, idRequests: 0, throttled: 0, tokenRequests: 0, unauthorized: 0 };
  readonly searches: Json[] = [];
  tokenTtlSeconds: number;
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly tokens = new Map<string, number>();
  private readonly store = new Map<string, StoredOrder>();
  private readonly random: () => number;
  private count = 0;
  private throttleLeft = 0;
  /** Pages served per pull; a pull is known by the upper end of its time range. */
  private readonly pages = new Map<string, number>();
  private lastStamp = 0;
  private server: Server | null = null;

  constructor(options: ShopwareEmulatorOptions) {
    this.clientId = options.clientId ?? CLIENT_ID;
    this.clientSecret = options.clientSecret ?? CLIENT_SECRET;
    this.tokenTtlSeconds = options.tokenTtlSeconds ?? 600;
    this.random = lcg(options.seed ?? 6);
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(errorBody(500, 'Internal Server Error', (error as Error).message));
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  seed(n: number, options: ShopwareSeedOptions = {}): void {
    const days = options.days ?? 30;
    const now = Date.now();
    const r = this.random;
    for (let k = 0; k < n; k++) {
      const i = ++this.count;
      const neverUpdated = r() < (options.neverUpdated ?? 0.25);
      let createdAt: number;
      let updatedAt: number | null;
      if (options.at) {
        updatedAt = neverUpdated ? null : options.at.getTime();
        createdAt = neverUpdated ? options.at.getTime() : options.at.getTime() - 3_600_000;
      } else {
        createdAt = now - Math.floor(r() * days * 86_400_000);
        updatedAt = neverUpdated ? null : createdAt + Math.floor(r() * Math.min(now - createdAt, 2 * 86_400_000));
      }
      const net = r() < 0.2;
      const products = net ? WHOLESALE : RETAIL;
      const lineCount = intIn(r, 1, net ? 2 : 4);
      const picked = new Set<Product>();
      while (picked.size < lineCount) picked.add(products[intIn(r, 0, products.length - 1)]!);
      const lines = [...picked].map((product) => ({ product, quantity: intIn(r, 1, net ? 3 : 4), updatedAt: null }));
      const goods = lines.reduce((a, l) => a + l.product.price * l.quantity, 0);
      const promo = !net && r() < 0.3 ? (r() < 0.5 ? { code: 'ALPEN10', label: 'Frühlingsrabatt CHF 10', kind: 'absolute' as const, value: 1000 } : { code: 'HERBST10', label: 'Herbstaktion 10 %', kind: 'percentage' as const, value: 10 }) : null;
      const promotion = promo && (promo.kind === 'percentage' || goods > 3 * promo.value) ? promo : null;
      const state: OrderState = neverUpdated ? 'open' : (['open', 'in_progress', 'completed', 'completed'] as const)[intIn(r, 0, 3)]!;
      const person = net ? COMPANIES[intIn(r, 0, COMPANIES.length - 1)]! : PEOPLE[intIn(r, 0, PEOPLE.length - 1)]!;
      const guest = !net && r() < 0.2;
      const payments: PaymentName[] = ['payment_twint', 'payment_stripe', 'payment_paypal', 'payment_prepayment'];
      this.put({
        n: i,
        id: hexId(0, i),
        taxStatus: net ? 'net' : 'gross',
        lines,
        shipping: net ? 1200 : goods >= 15_000 ? 0 : 790,
        promotion,
        person,
        customerNumber: guest ? `SW2${String(i).padStart(4, '0')}` : `SW1${String((net ? 50 : 10) + (net ? COMPANIES : PEOPLE).indexOf(person)).padStart(4, '0')}`,
        guest,
        shipTo: r() < 0.2 ? PEOPLE[(PEOPLE.indexOf(person) + 1) % PEOPLE.length]! : null,
        payment: net ? 'payment_invoicepayment' : payments[intIn(r, 0, payments.length - 1)]!,
        state,
        createdAt: swDate(createdAt),
        updatedAt: updatedAt === null ? null : swDate(updatedAt),
        corrupt: false,
      });
    }
  }

  private put(spec: Spec): void {
    this.store.set(spec.id, { spec, entity: buildOrder(spec), json: new Map() });
  }

  private get(id: string): StoredOrder {
    const o = this.store.get(id);
    if (!o) throw new Error(`no order ${id}`);
    return o;
  }

  /** Now, strictly after every stamp handed out before (two touches never share a millisecond). */
  private stampNow(): string {
    this.lastStamp = Math.max(Date.now(), this.lastStamp + 1);
    return swDate(this.lastStamp);
  }

  touch(id: string): void {
    const { spec } = this.get(id);
    const now = this.stampNow();
    const line = spec.lines[0]!;
    spec.lines[0] = { ...line, quantity: line.quantity >= 5 ? 1 : line.quantity + 1, updatedAt: now };
    this.put({ ...spec, updatedAt: now });
  }

  throttle(k: number): void {
    this.throttleLeft += k;
  }

  corrupt(id: string): void {
    this.put({ ...this.get(id).spec, corrupt: true });
  }

  orders(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [id, o] of this.store) out.set(id, new Date(o.spec.updatedAt ?? o.spec.createdAt).toISOString());
    return out;
  }

  entity(id: string): Json {
    return structuredClone(this.get(id).entity);
  }

  mutate(id: string, change: (entity: Json) => void): void {
    const o = this.get(id);
    change(o.entity);
    o.json.clear();
  }

  revokeTokens(): void {
    this.tokens.clear();
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // -- HTTP ---------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.requests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    };
    if (req.method === 'POST' && url.pathname === '/api/oauth/token') return this.token(req, text, send);
    if (req.method === 'POST' && url.pathname === '/api/search/order') return this.search(req, text, send);
    send(404, errorBody(404, 'Not Found', `No route found for "${req.method} ${url.pathname}"`));
  }

  private token(req: IncomingMessage, text: string, send: (status: number, body: string) => void): void {
    this.stats.tokenRequests++;
    let body: Json = {};
    try {
      body = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(text)) : (JSON.parse(text) as Json);
    } catch {
      return send(400, JSON.stringify({ error: 'invalid_request', error_description: 'The request is missing a required parameter.', message: 'The request is missing a required parameter.' }));
    }
    if (body.grant_type !== 'client_credentials') {
      return send(400, JSON.stringify({ error: 'unsupported_grant_type', error_description: 'The authorization grant type is not supported by the authorization server.' }));
    }
    if (body.client_id !== this.clientId || body.client_secret !== this.clientSecret) {
      return send(401, errorBody(401, 'Unauthorized', 'Client authentication failed'));
    }
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, Date.now() + this.tokenTtlSeconds * 1000);
    send(200, JSON.stringify({ token_type: 'Bearer', expires_in: this.tokenTtlSeconds, access_token: token }));
  }

  private authorized(req: IncomingMessage): boolean {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const expires = m ? this.tokens.get(m[1]!) : undefined;
    if (expires === undefined) return false;
    if (Date.now() >= expires) {
      this.tokens.delete(m![1]!);
      return false;
    }
    return true;
  }

  private search(req: IncomingMessage, text: string, send: (status: number, body: string, headers?: Record<string, string>) => void): void {
    if (!this.authorized(req)) {
      this.stats.unauthorized++;
      return send(401, errorBody(401, 'Unauthorized', 'The resource owner or authorization server denied the request. Access token could not be verified.'));
    }
    let criteria: Json;
    try {
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (!isObject(parsed)) throw new CriteriaError('the criteria must be a JSON object');
      criteria = parsed;
    } catch (error) {
      return send(400, errorBody(400, 'Bad Request', (error as Error).message));
    }
    this.searches.push(criteria);
    const filters = criteria.filter === undefined ? [] : criteria.filter;
    const upper = Array.isArray(filters) ? rangeUpper(filters) : null;
    if (upper === null) this.stats.idRequests++;
    else this.stats.listRequests++;
    if (this.throttleLeft > 0) {
      this.throttleLeft--;
      this.stats.throttled++;
      return send(429, errorBody(429, 'Too Many Requests', 'Rate limit exceeded.'), { 'retry-after': '0' });
    }
    if (upper !== null) {
      const page = (this.pages.get(upper) ?? 0) + 1;
      this.pages.set(upper, page);
      this.beforePage?.(page);
    }
    let body: { data: StoredOrder[]; total: number };
    try {
      body = this.query(criteria);
    } catch (error) {
      if (error instanceof CriteriaError) return send(400, errorBody(400, 'Bad Request', error.message));
      throw error;
    }
    const requested = requestedTree(criteria.associations);
    const key = projectionKey(ORDER_ASSOCIATIONS, requested);
    const texts = body.data.map((o) => {
      let t = o.json.get(key);
      if (t === undefined) {
        t = JSON.stringify(project(o.entity, ORDER_ASSOCIATIONS, requested));
        o.json.set(key, t);
      }
      return t;
    });
    const accept = String(req.headers.accept ?? '');
    if (/application\/json/.test(accept)) {
      return send(200, `{"total":${body.total},"data":[${texts.join(',')}],"aggregations":[]}`);
    }
    // Shopware's default: JSON:API documents.
    const resources = texts.map((t) => {
      const { id, ...attributes } = JSON.parse(t) as Json;
      return { id, type: 'order', attributes, links: { self: `${this.url}/api/order/${String(id)}` }, relationships: {}, meta: null };
    });
    send(200, JSON.stringify({ data: resources, included: [], links: { self: `${this.url}/api/search/order` }, meta: { total: body.total, totalCountMode: 0 }, aggregations: [] }), {
      'content-type': 'application/vnd.api+json',
    });
  }

  private query(criteria: Json): { data: StoredOrder[]; total: number } {
    const filters = criteria.filter ?? [];
    if (!Array.isArray(filters)) throw new CriteriaError('filter must be a list');
    let rows = [...this.store.values()];
    if (criteria.ids !== undefined) {
      const ids = Array.isArray(criteria.ids) ? criteria.ids.map((v) => String(v).toLowerCase()) : null;
      if (!ids) throw new CriteriaError('ids must be a list');
      for (const id of ids) if (!/^[0-9a-f]{32}$/.test(id)) throw new CriteriaError(`Value "${id}" is not a valid uuid`);
      rows = rows.filter((o) => ids.includes(o.spec.id));
    }
    rows = rows.filter((o) => filters.every((f) => evaluate(o.entity, f) === true));
    const sort = criteria.sort ?? [];
    if (!Array.isArray(sort)) throw new CriteriaError('sort must be a list');
    const keys = sort.map((s) => {
      if (!isObject(s) || typeof s.field !== 'string') throw new CriteriaError('a sort needs a field');
      const desc = String(s.order ?? 'ASC').toUpperCase() === 'DESC';
      return { field: s.field, desc };
    });
    if (keys.length) {
      rows.sort((a, b) => {
        for (const k of keys) {
          const c = compareValues(comparable(k.field, fieldValue(a.entity, k.field)), comparable(k.field, fieldValue(b.entity, k.field)));
          if (c !== 0) return k.desc ? -c : c;
        }
        return 0;
      });
    }
    const limit = criteria.limit === undefined || criteria.limit === null ? null : Number(criteria.limit);
    const page = criteria.page === undefined ? 1 : Number(criteria.page);
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new CriteriaError('limit must be a positive integer');
    if (!Number.isInteger(page) || page < 1) throw new CriteriaError('page must be a positive integer');
    const offset = limit === null ? 0 : (page - 1) * limit;
    const data = limit === null ? rows : rows.slice(offset, offset + limit);
    const mode = Number(criteria['total-count-mode'] ?? 0);
    // 0: the number of entities read; 1: exact; 2: tells whether a next page exists.
    const total = mode === 1 ? rows.length : mode === 2 ? data.length + (rows.length > offset + data.length ? 1 : 0) : data.length;
    return { data, total };
  }
}

/** The upper end of the first time range in the filters: what tells one pull's pages from another's. */
function rangeUpper(filters: unknown[]): string | null {
  for (const f of filters) {
    if (!isObject(f)) continue;
    if (f.type === 'range' && isObject(f.parameters)) {
      const upper = f.parameters.lte ?? f.parameters.lt;
      if (upper !== undefined) return `${String(f.field)}<${String(upper)}`.replace(/^(createdAt|updatedAt)/, '');
    }
    if ((f.type === 'multi' || f.type === 'not') && Array.isArray(f.queries)) {
      const inner = rangeUpper(f.queries);
      if (inner !== null) return inner;
    }
  }
  return null;
}

export async function startShopware(options: ShopwareEmulatorOptions = {}): Promise<ShopwareEmulator> {
  const shop = new Shop(options);
  await shop.listen();
  return shop;
}

export const shopwareSubject: ConformanceSubject = {
  kind: 'shopware',
  start: () => startShopware(),
  sourceYaml: (emu, pageSize) =>
    `    type: shopware\n    base_url: ${emu.url}\n    client_id: ${CLIENT_ID}\n    client_secret: ${CLIENT_SECRET}\n    page_size: ${pageSize}\n    lag_seconds: 0\n`,
  mapping: 'shopware-ch.yaml',
};
