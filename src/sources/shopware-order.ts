/**
 * Shopware 6 Admin API order entity → canonical order.
 *
 * Input: one element of `data[]` of `POST /api/search/order` requested with
 * `Accept: application/json` (plain JSON, not JSON:API), with the associations lineItems,
 * deliveries (+shippingMethod, shippingOrderAddress.country), transactions (+paymentMethod,
 * stateMachineState), currency, orderCustomer (+customer, to tell guests), billingAddress
 * (+country, countryState) and stateMachineState.
 *
 * What was confirmed, and where (shopware/shopware unless noted):
 * - Field names of order, order_line_item, order_customer, order_address, order_delivery,
 *   order_transaction: the entity definitions under src/Core/Checkout/Order (OrderDefinition,
 *   OrderLineItemDefinition, …) and the Admin API OpenAPI models in
 *   cdma-numiscorner/shopware-admin-api-client docs/Model (Order.md, OrderLineItem.md, …):
 *   orderNumber, orderDateTime, price (CartPrice), amountTotal, amountNet, positionPrice, taxStatus,
 *   shippingCosts (CalculatedPrice), itemRounding/totalRounding {decimals, interval, roundForNet},
 *   customFields, createdAt, updatedAt; line items id, parentId, type, label, quantity, payload,
 *   position, price, unitPrice, totalPrice; orderCustomer customerId, email, firstName, lastName,
 *   company, customerNumber, vatIds[]; address street, additionalAddressLine1, zipcode, city,
 *   company, vatId, phoneNumber, country{iso}, countryState{shortCode}; transaction amount
 *   (CalculatedPrice), stateMachineState, paymentMethod {technicalName, shortName,
 *   formattedHandlerIdentifier, name, translated}; shippingMethod {name, technicalName}.
 * - Every DAL field is readable through the Admin API even without an explicit ApiAware flag:
 *   Field's constructor adds ApiAware(AdminApiSource) (Framework/DataAbstractionLayer/Field/Field.php),
 *   and JsonEntityEncoder drops only fields without that flag. So `lineItems[].price` is there.
 * - CartPrice {netPrice, totalPrice, calculatedTaxes, taxRules, positionPrice, taxStatus
 *   gross|net|tax-free, rawTotal}; CalculatedPrice {unitPrice, quantity, totalPrice,
 *   calculatedTaxes, taxRules, …}; CalculatedTax {tax, taxRate, price}; TaxRule {taxRate,
 *   percentage} (Checkout/Cart/Price/Struct, Checkout/Cart/Tax/Struct). Collections serialise as
 *   JSON lists (Framework/Struct/Collection::jsonSerialize → array_values).
 * - Money is PHP float: totals are rounded with round(x, decimals) (CashRounding::mathRound) and
 *   cash-rounded to the interval (cashRound), but CalculatedTax.price is not rounded: a product
 *   line carries unitPrice × quantity with float noise (29.799999999999997), and a promotion over
 *   several rates carries the raw proportional share (−3.5647143890093993), because
 *   PercentageTaxRuleBuilder splits by price / total × 100 and TaxCalculator multiplies back
 *   (Cart/Tax/TaxCalculator.php, Cart/Price/GrossPriceCalculator.php). Only `tax` is rounded.
 * - AmountCalculator: gross → totalPrice = cashRound(Σ positions + shipping, totalRounding),
 *   rawTotal = the unrounded sum, netPrice = Σ − Σ taxes; net → totalPrice = cashRound(net + taxes);
 *   tax-free → no taxes and no cash rounding. Order taxes are the sum of the line taxes
 *   ("horizontal", the default) or recomputed on the sum per rate ("vertical" sales channels).
 * - The order's lineItems association is flat: container children are rows of their own with
 *   parentId set, and a container's price is the sum of its children (the cart totals add
 *   top-level items only).
 * - Transaction states (OrderTransactionStates): open, paid, paid_partially, authorized, refunded,
 *   refunded_partially, cancelled, failed, reminded, in_progress, chargeback, unconfirmed.
 * - Dates are RFC 3339 with milliseconds and offset ("2026-03-14T09:12:45.123+00:00",
 *   Framework/Struct/JsonSerializableTrait); updatedAt is null until the first update.
 * - payload.productNumber is the SKU; payload.categoryIds is the product's category tree
 *   (ids, not names) (Content/Product/Cart/ProductCartProcessor).
 * - orderCustomer.customer.guest is a boolean of the customer entity; a guest checkout still
 *   creates a customer row, so customerId alone does not tell a guest.
 * Guesses: payload.categories (names) is not core and only read when a plugin provides it;
 * `technicalName` on payment and shipping methods exists from Shopware 6.5.7 (older shops fall
 * back to shortName / formattedHandlerIdentifier); `label` on calculated taxes is ignored.
 *
 * Choices:
 * - Top-level line items only; children (parentId set) are inside their parent's price.
 * - product, custom and container lines → kind `product`, one VAT rate (several rates → rejected).
 *   promotion, credit and discount lines → kind `discount`, one line per calculatedTaxes entry:
 *   Shopware spreads both promotions and admin credits ("auto" tax) over the cart's rates.
 *   Other (plugin) types: `product` when the line is not negative, else `discount`.
 * - A line's amount is its price.totalPrice (rounded by Shopware); when it has several rates the
 *   total is split over them in proportion to the entries' `price` shares (exact integer
 *   allocation, so the shares add up to the line). With one rate the share is the total.
 * - Cash rounding: total = amountTotal (the cash-rounded amount the customer pays); the lines add
 *   up to rawTotal and the mapping books the difference on its rounding line.
 * - Shipping: one line per rate of order.shippingCosts (all deliveries together), named after the
 *   first delivery's shipping method; none when the shipping is free. The shipping address is
 *   null when the delivery reuses the billing address row.
 * - A promotion's sku is its code; promotions with a code are also listed as coupons (positive
 *   net and VAT, for expressions). Categories are payload.categories (names, from plugins) or
 *   else payload.categoryIds (core: category ids, not names).
 * - completedAt: Shopware keeps no completion date; for a completed order it is updatedAt.
 * - Refunds: [] — core has no refund list on the order (returns and credit notes are documents or
 *   the commercial returns module; order_transaction_capture_refund is for payment apps).
 */
import { allocate, BooksError, currencyExponent, formatDecimal, formatRate, isKnownCurrency, neg, parseDecimal, sub, sum, ZERO, type Minor, type VatRate } from '../books/index.js';
import { Reader, type Json } from './reader.js';
import { RecordError } from '../errors.js';
import { chargeLine, type CanonicalOrder, type LineKind, type OrderAddress, type OrderCoupon, type OrderLine, type OrderPayment, type OrderTaxTotal } from './order.js';

type TaxStatus = 'gross' | 'net' | 'tax-free';

/** Decimals a float is rounded to before it must fit the currency: anything finer is float noise. */
const NOISE_DECIMALS = 6;

/** A JS number as plain decimal text (String(1e-7) is "1e-7"). */
function plainDecimal(n: number): string {
  const text = String(n);
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/i.exec(text);
  if (!m) return text;
  const [, sign, whole, frac = '', exp] = m;
  const digits = whole! + frac;
  const point = whole!.length + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function decimalText(value: unknown, path: string): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RecordError(`${value} is not an amount`, path);
    return plainDecimal(value);
  }
  if (typeof value === 'string') return value.trim();
  if (value === undefined || value === null) throw new RecordError('amount is missing', path);
  throw new RecordError(`expected a number, got ${JSON.stringify(value)}`, path);
}

/** A value rounded half-up to NOISE_DECIMALS, as an integer (for shares and noise checks). */
function micro(value: unknown, path: string): bigint {
  const text = decimalText(value, path);
  try {
    return BigInt(parseDecimal(text, NOISE_DECIMALS, { rounding: 'half-up' }));
  } catch (error) {
    throw new RecordError((error as BooksError).message, path);
  }
}

/**
 * A Shopware float as exact minor units: accepted when it has at most `exponent` decimals, or
 * when only float noise makes it longer (rounded to 6 decimals it has at most `exponent`).
 */
function exact(value: unknown, exponent: number, path: string): Minor {
  const text = decimalText(value, path);
  try {
    return parseDecimal(text, exponent);
  } catch {
    // Not exact as written: float noise (10.000000000000002) or a real sub-unit amount (10.005).
  }
  const scale = 10n ** BigInt(NOISE_DECIMALS - exponent);
  const m = micro(value, path);
  if (m % scale !== 0n) throw new RecordError(`${text} has more than ${exponent} decimals`, path);
  return Number(m / scale) as Minor;
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An association the search criteria must ask for. */
function association(parent: Json, key: string, path: string): Json {
  const v = parent[key];
  if (v === undefined || v === null) throw new RecordError(`missing: add the association "${key}" to the order search`, path);
  if (!isObject(v)) throw new RecordError('expected an object', path);
  return v;
}

function list(parent: Json, key: string, path: string, required: boolean): Json[] {
  const v = parent[key];
  if (v === undefined || v === null) {
    if (required) throw new RecordError(`missing: add the association "${key}" to the order search`, path);
    return [];
  }
  if (!Array.isArray(v)) throw new RecordError('expected a list', path);
  v.forEach((item, i) => {
    if (!isObject(item)) throw new RecordError('expected an object', `${path}[${i}]`);
  });
  return v as Json[];
}

/** calculatedTaxes is a list; tolerate the rate-keyed object form of the stored JSON too. */
function calculatedTaxes(price: Json, path: string): Json[] {
  const v = price.calculatedTaxes;
  if (v === undefined || v === null) return [];
  const items = Array.isArray(v) ? v : isObject(v) ? Object.values(v) : null;
  if (!items) throw new RecordError('expected a list', `${path}.calculatedTaxes`);
  items.forEach((item, i) => {
    if (!isObject(item)) throw new RecordError('expected an object', `${path}.calculatedTaxes[${i}]`);
  });
  return items as Json[];
}

function rateOf(value: unknown, path: string): VatRate {
  const bp = exact(value, 2, path);
  if (bp < 0 || bp > 10_000) throw new RecordError(`VAT rate ${decimalText(value, path)} % is outside 0–100 %`, path);
  return bp as number as VatRate;
}

/** One VAT rate's part of a calculated price: `amount` is gross or net as the order's tax status says. */
interface Share {
  rate: VatRate;
  amount: Minor;
  tax: Minor;
  /** Index in calculatedTaxes, or null when the price has no (or ignored) taxes. */
  index: number | null;
}

/**
 * Split a CalculatedPrice into its VAT rates. The line total is exact; the per-rate `price`
 * shares are unrounded floats, so they only weigh an exact split of the total.
 */
function shares(exponent: number, price: Json, path: string, status: TaxStatus): Share[] {
  const total = exact(price.totalPrice, exponent, `${path}.totalPrice`);
  const entries = calculatedTaxes(price, path);
  if (status === 'tax-free' || entries.length === 0) return [{ rate: 0 as VatRate, amount: total, tax: ZERO, index: null }];
  const weights = entries.map((e, i) => micro(e.price, `${path}.calculatedTaxes[${i}].price`));
  const negative = total < 0;
  weights.forEach((w, i) => {
    if (w !== 0n && (w < 0n) !== negative) {
      throw new RecordError(`share ${decimalText(entries[i]!.price, '')} has the opposite sign of the line total`, `${path}.calculatedTaxes[${i}].price`);
    }
  });
  const scale = 10n ** BigInt(NOISE_DECIMALS - exponent);
  const weightSum = weights.reduce((a, b) => a + b, 0n);
  const gap = weightSum - BigInt(total) * scale;
  // Each share is rounded to 6 decimals above, so their sum may be off by half a millionth each.
  if ((gap < 0n ? -gap : gap) > BigInt(entries.length)) {
    throw new RecordError(
      `the VAT shares add up to ${formatDecimal(Number(weightSum) as Minor, NOISE_DECIMALS)}, not the totalPrice ${decimalText(price.totalPrice, '')}`,
      `${path}.calculatedTaxes`,
    );
  }
  const amounts =
    entries.length === 1
      ? [total]
      : allocate((negative ? -total : total) as Minor, weights.map((w) => (w < 0n ? -w : w))).map((a) => (negative ? (-a as Minor) : a));
  return entries.map((e, i) => ({
    rate: rateOf(e.taxRate, `${path}.calculatedTaxes[${i}].taxRate`),
    amount: amounts[i]!,
    tax: exact(e.tax, exponent, `${path}.calculatedTaxes[${i}].tax`),
    index: i,
  }));
}

function shareAmounts(share: Share, status: TaxStatus): { net: Minor; tax: Minor } {
  // Gross: the share is the gross amount and tax is inside it; net and tax-free: it is the net.
  return status === 'gross' ? { net: sub(share.amount, share.tax), tax: share.tax } : { net: share.amount, tax: share.tax };
}

const PRODUCT_TYPES = new Set(['product', 'custom', 'container']);
const DISCOUNT_TYPES = new Set(['promotion', 'credit', 'discount']);

function address(r: Reader, a: Json, path: string): OrderAddress {
  const country = isObject(a.country) ? r.text(a.country, 'iso', `${path}.country.iso`, true) : '';
  let state = isObject(a.countryState) ? r.text(a.countryState, 'shortCode', `${path}.countryState.shortCode`, true) : '';
  // Shopware's state codes are ISO 3166-2 ("CH-BE"); canonical states are the subdivision part.
  if (country && state.startsWith(`${country}-`)) state = state.slice(country.length + 1);
  return {
    street: r.text(a, 'street', `${path}.street`, true),
    street2: r.text(a, 'additionalAddressLine1', `${path}.additionalAddressLine1`, true),
    zipcode: r.text(a, 'zipcode', `${path}.zipcode`, true),
    city: r.text(a, 'city', `${path}.city`, true),
    state,
    country,
  };
}

/** The address an association names, or the one in `addresses` with the foreign key's id. */
function addressOf(order: Json, parent: Json, key: string, idKey: string): Json | null {
  if (isObject(parent[key])) return parent[key];
  const id = parent[idKey];
  const found = Array.isArray(order.addresses) ? order.addresses.find((a) => isObject(a) && a.id === id) : undefined;
  return isObject(found) ? found : null;
}

function translatedName(entity: Json): string {
  const translated = isObject(entity.translated) ? entity.translated.name : undefined;
  if (typeof translated === 'string' && translated !== '') return translated;
  return typeof entity.name === 'string' ? entity.name : '';
}

/** Shopware's own short name of a handler class: `…\PrePayment` → `pre_payment`. */
function handlerShortName(handler: unknown): string {
  if (typeof handler !== 'string' || handler === '') return '';
  const last = handler.split('\\').pop()!;
  return last.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

function payment(r: Reader, exponent: number, order: Json): OrderPayment | null {
  const transactions = list(order, 'transactions', 'transactions', false).map((t, i) => ({ t, i }));
  if (transactions.length === 0) return null;
  // The latest transaction is the one that counts: changing the payment method adds a new one.
  const dated = transactions.map(({ t, i }) => ({ t, i, at: r.utc(t, 'createdAt', `transactions[${i}].createdAt`) ?? '' }));
  dated.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.i - b.i));
  const { t, i } = dated[dated.length - 1]!;
  const path = `transactions[${i}]`;
  const state = r.text(association(t, 'stateMachineState', `${path}.stateMachineState`), 'technicalName', `${path}.stateMachineState.technicalName`);
  const method = isObject(t.paymentMethod) ? t.paymentMethod : null;
  const pick = (...names: unknown[]) => names.find((n): n is string => typeof n === 'string' && n !== '') ?? '';
  const methodId = r.text(t, 'paymentMethodId', `${path}.paymentMethodId`, true);
  const amount = association(t, 'amount', `${path}.amount`);
  return {
    method: method
      ? pick(method.technicalName, method.shortName, handlerShortName(method.handlerIdentifier), method.formattedHandlerIdentifier, methodId)
      : methodId,
    title: method ? translatedName(method) : '',
    transactionId: r.text(t, 'id', `${path}.id`),
    paidAt: state === 'paid' ? (r.utc(t, 'updatedAt', `${path}.updatedAt`, true) ?? r.utc(t, 'createdAt', `${path}.createdAt`)) : null,
    amount: exact(amount.totalPrice, exponent, `${path}.amount.totalPrice`),
    fee: ZERO,
  };
}

export function parseShopwareOrder(source: string, raw: unknown): CanonicalOrder {
  if (!isObject(raw)) throw new RecordError('an order must be a JSON object');
  if (isObject(raw.attributes) && typeof raw.type === 'string') {
    throw new RecordError('this is a JSON:API resource; search orders with the header "Accept: application/json" for plain entities');
  }
  const order = raw;
  const currencyEntity = association(order, 'currency', 'currency');
  const currency = typeof currencyEntity.isoCode === 'string' ? currencyEntity.isoCode : '';
  if (!isKnownCurrency(currency)) throw new RecordError(`unknown currency ${JSON.stringify(currencyEntity.isoCode)}`, 'currency.isoCode');
  const exponent = currencyExponent(currency);
  const r = new Reader(exponent);

  const price = association(order, 'price', 'price');
  const statusText = order.taxStatus ?? price.taxStatus;
  if (statusText !== 'gross' && statusText !== 'net' && statusText !== 'tax-free') {
    throw new RecordError(`unknown tax status ${JSON.stringify(statusText)} (expected gross, net or tax-free)`, 'taxStatus');
  }
  const status: TaxStatus = statusText;

  const lines: OrderLine[] = [];
  const coupons: OrderCoupon[] = [];
  const items = list(order, 'lineItems', 'lineItems', true)
    .map((item, i) => ({ item, i }))
    .filter(({ item }) => item.parentId === undefined || item.parentId === null)
    .sort((a, b) => (Number(a.item.position) || 0) - (Number(b.item.position) || 0) || a.i - b.i);

  for (const { item, i } of items) {
    const path = `lineItems[${i}]`;
    const quantity = item.quantity;
    if (typeof quantity !== 'number' || !Number.isInteger(quantity)) throw new RecordError('quantity must be a whole number', `${path}.quantity`);
    const type = r.text(item, 'type', `${path}.type`, true);
    const linePrice = association(item, 'price', `${path}.price`);
    const parts = shares(exponent, linePrice, `${path}.price`, status);
    const total = parts.reduce((a, p) => a + p.amount, 0);
    const kind: LineKind = PRODUCT_TYPES.has(type) ? 'product' : DISCOUNT_TYPES.has(type) ? 'discount' : total < 0 ? 'discount' : 'product';
    if (kind === 'product' && parts.length > 1) {
      throw new RecordError('several VAT rates on one product line are not supported', `${path}.price.calculatedTaxes`);
    }
    const payload = isObject(item.payload) ? item.payload : {};
    const id = r.text(item, 'id', `${path}.id`);
    const names = Array.isArray(payload.categories) ? payload.categories : Array.isArray(payload.categoryIds) ? payload.categoryIds : [];
    const sku = kind === 'discount' ? (typeof payload.code === 'string' ? payload.code : '') : typeof payload.productNumber === 'string' ? payload.productNumber : '';
    const made = parts.map((part): OrderLine => {
      const { net, tax } = shareAmounts(part, status);
      return {
        kind,
        ref: parts.length === 1 ? id : `${id}:${formatRate(part.rate)}`,
        field: parts.length === 1 ? path : `${path}.price.calculatedTaxes[${part.index}]`,
        sku,
        name: r.text(item, 'label', `${path}.label`, true),
        quantity,
        categories: names.filter((c): c is string => typeof c === 'string'),
        netBeforeDiscount: net,
        net,
        tax,
        taxBeforeDiscount: tax,
        vatRate: part.rate,
      };
    });
    lines.push(...made);
    if (type === 'promotion' && typeof payload.code === 'string' && payload.code !== '') {
      coupons.push({ code: payload.code, discount: neg(sum(made.map((l) => l.net))), discountTax: neg(sum(made.map((l) => l.tax))) });
    }
  }

  const deliveries = list(order, 'deliveries', 'deliveries', false);
  const delivery = deliveries[0] ?? null;
  const shippingMethod = delivery && isObject(delivery.shippingMethod) ? delivery.shippingMethod : null;
  const shippingCosts = association(order, 'shippingCosts', 'shippingCosts');
  const shippingParts = shares(exponent, shippingCosts, 'shippingCosts', status).filter((p) => p.amount !== 0 || p.tax !== 0);
  for (const part of shippingParts) {
    const { net, tax } = shareAmounts(part, status);
    const ref = delivery ? r.text(delivery, 'id', 'deliveries[0].id') : 'shipping';
    lines.push(
      chargeLine({
        kind: 'shipping',
        ref: shippingParts.length === 1 ? ref : `${ref}:${formatRate(part.rate)}`,
        field: shippingParts.length === 1 || part.index === null ? 'shippingCosts' : `shippingCosts.calculatedTaxes[${part.index}]`,
        sku: shippingMethod ? r.text(shippingMethod, 'technicalName', 'deliveries[0].shippingMethod.technicalName', true) : '',
        name: (shippingMethod && translatedName(shippingMethod)) || 'Shipping',
        net,
        tax,
        vatRate: part.rate,
      }),
    );
  }

  const taxTotals: OrderTaxTotal[] =
    status === 'tax-free'
      ? []
      : calculatedTaxes(price, 'price').map((t, i) => {
          const rate = rateOf(t.taxRate, `price.calculatedTaxes[${i}].taxRate`);
          return { rate, label: `${formatRate(rate)} %`, tax: exact(t.tax, exponent, `price.calculatedTaxes[${i}].tax`) };
        });

  const orderCustomer = association(order, 'orderCustomer', 'orderCustomer');
  const billing = addressOf(order, order, 'billingAddress', 'billingAddressId');
  if (!billing) throw new RecordError('missing: add the association "billingAddress" to the order search', 'billingAddress');
  // A delivery to the billing address reuses its row: no separate shipping address then.
  const sameAsBilling = delivery !== null && typeof delivery.shippingOrderAddressId === 'string' && delivery.shippingOrderAddressId === billing.id;
  const shipping = delivery && !sameAsBilling ? addressOf(order, delivery, 'shippingOrderAddress', 'shippingOrderAddressId') : null;
  const customerEntity = isObject(orderCustomer.customer) ? orderCustomer.customer : null;
  const customerId = r.text(orderCustomer, 'customerId', 'orderCustomer.customerId', true);
  const vatIds = Array.isArray(orderCustomer.vatIds) ? orderCustomer.vatIds.filter((v): v is string => typeof v === 'string' && v.trim() !== '') : [];

  const meta: Record<string, string> = {};
  if (isObject(order.customFields)) {
    for (const [key, value] of Object.entries(order.customFields)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') meta[key] = String(value);
    }
  }

  const createdAt = r.utc(order, 'orderDateTime', 'orderDateTime', true) ?? r.utc(order, 'createdAt', 'createdAt')!;
  const updatedAt = r.utc(order, 'updatedAt', 'updatedAt', true) ?? r.utc(order, 'createdAt', 'createdAt', true) ?? createdAt;
  const orderState = r.text(association(order, 'stateMachineState', 'stateMachineState'), 'technicalName', 'stateMachineState.technicalName');
  const totalValue = order.amountTotal ?? price.totalPrice;
  return {
    source,
    id: r.text(order, 'id', 'id'),
    number: r.text(order, 'orderNumber', 'orderNumber', true) || r.text(order, 'id', 'id'),
    status: orderState,
    test: false,
    createdAt,
    updatedAt,
    // No completion date on the order entity: the last update is its upper bound.
    completedAt: orderState === 'completed' ? updatedAt : null,
    currency,
    pricesIncludeTax: status === 'gross',
    customer: {
      // The shop's customer number ("10042") is what people know the customer by, and it fits
      // Run my Accounts' 32 characters; the UUID is the fallback.
      id: customerEntity?.guest === true || customerId === '' ? null : r.text(orderCustomer, 'customerNumber', 'orderCustomer.customerNumber', true) || customerId,
      email: r.text(orderCustomer, 'email', 'orderCustomer.email', true),
      firstName: r.text(orderCustomer, 'firstName', 'orderCustomer.firstName', true),
      lastName: r.text(orderCustomer, 'lastName', 'orderCustomer.lastName', true),
      company: r.text(billing, 'company', 'billingAddress.company', true) || r.text(orderCustomer, 'company', 'orderCustomer.company', true),
      phone: r.text(billing, 'phoneNumber', 'billingAddress.phoneNumber', true),
      vatId: r.text(billing, 'vatId', 'billingAddress.vatId', true).trim() || vatIds[0]?.trim() || '',
      billing: address(r, billing, 'billingAddress'),
      shipping: shipping ? address(r, shipping, 'deliveries[0].shippingOrderAddress') : null,
    },
    lines,
    coupons,
    taxTotals,
    totalTax: sum(taxTotals.map((t) => t.tax)),
    total: exact(totalValue, exponent, order.amountTotal !== undefined && order.amountTotal !== null ? 'amountTotal' : 'price.totalPrice'),
    payment: payment(r, exponent, order),
    refunds: [],
    meta,
  };
}
