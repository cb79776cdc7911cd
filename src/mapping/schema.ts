/**
 * Mapping file format, version 1. docs/mapping.md is its reference; `kontor schema` prints it
 * as JSON Schema for editors. Descriptions here become the editor's hover texts.
 */
import { z } from 'zod';
import { accountNumber, numeric, timeZone } from '../config/schema.js';
import { templateVariablesIn, unknownPlaceholders, type TemplateVariable } from './template.js';

const account = accountNumber;
const percent = z
  .union([z.number(), z.string()])
  .transform(String)
  .pipe(z.string().regex(/^\d{1,2}(\.\d{1,2})?$|^100$/, 'a VAT rate in percent like 8.1'));
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD');
const countryCode = z.string().regex(/^[A-Z]{2}$/, 'an ISO 3166 country code like CH');
const currencyCode = z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 currency code like CHF');
/** A JSONata expression; compiled (and its syntax checked) when the mapping loads. */
const expression = z.string().min(1).describe('a JSONata expression over the order (docs/mapping.md#expressions)');
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

/** A template whose placeholders must be among `allowed`. */
function template(allowed: readonly TemplateVariable[]) {
  return z
    .string()
    .min(1)
    .superRefine((t, ctx) => {
      const unknown = unknownPlaceholders(t);
      const misplaced = templateVariablesIn(t).filter((v) => !allowed.includes(v));
      const bad = unknown[0] ?? misplaced[0];
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `placeholder {${bad}} is not available here (use ${allowed.map((v) => `{${v}}`).join(', ')})` });
    });
}
const ORDER_VARS = ['id', 'number', 'customer_id', 'email', 'year'] as const satisfies readonly TemplateVariable[];

const lineKind = z.enum(['product', 'shipping', 'fee', 'discount']);

/** Conditions of a routing rule; every condition given must hold. */
const match = z
  .strictObject({
    kind: oneOrMany(lineKind).optional().describe('line kinds the rule applies to (default: product)'),
    vat_rate: oneOrMany(percent).optional(),
    sku: oneOrMany(z.string().min(1)).optional().describe('SKU patterns; * matches any run of characters, ? one character'),
    category: oneOrMany(z.string().min(1)).optional().describe("the line is in any of these categories (the shop's names, compared case-insensitively)"),
    country: z
      .union([z.enum(['domestic', 'eu', 'export']), z.array(countryCode).min(1)])
      .optional()
      .describe('delivery country: domestic, eu (EU member outside the domestic list), export (everything else), or a list of codes'),
    currency: oneOrMany(currencyCode).optional(),
    when: expression.optional().describe('JSONata over {order, line}; the rule applies when it is true'),
  })
  .default({});

const rule = z.strictObject({
  name: z.string().min(1).optional().describe('for messages and `kontor check`'),
  match,
  account,
  /** Overrides the VAT code of the line's rate (for example export for 0 % lines abroad). */
  vat_code: z.string().min(1).optional(),
});

/** The RMA TEXT field limits (reference/runmyaccounts.md §customer). */
export const RMA_CUSTOMER_LIMITS = { customernumber: 32, name: 64, firstname: 32, lastname: 32, address1: 32, address2: 32, zipcode: 10, city: 32, phone: 20, taxnumber: 32 } as const;

export const EU_COUNTRIES = [
  'AT', 'BE', 'BG', 'CY', 'CZ', 'DE', 'DK', 'EE', 'ES', 'FI', 'FR', 'GR', 'HR', 'HU', 'IE', 'IT', 'LT', 'LU', 'LV', 'MT', 'NL', 'PL', 'PT', 'RO', 'SE', 'SI', 'SK',
] as const;

export const mappingSchema = z.strictObject({
  version: z.literal(1, { error: 'version must be 1' }),
  target: z
    .strictObject({
      kind: z.enum(['runmyaccounts', 'billecta', 'journal']).default('runmyaccounts').describe('the kind of target this mapping is written for: its field limits apply'),
      variant: z.enum(['booking', 'article']).default('booking').describe('booking: lines on revenue accounts (A1–A4); article: parts from the article master (A5–A8)'),
      /** Billecta only: orders a provider already collected become verification invoices (nothing is sent to the customer). */
      paid_orders: z.enum(['invoice', 'verification']).default('invoice'),
    })
    .default({ kind: 'runmyaccounts', variant: 'booking', paid_orders: 'invoice' }),
  select: z
    .strictObject({
      statuses: z.array(z.string().min(1)).min(1).default(['processing', 'completed']).describe('order statuses that are billable; others are skipped'),
      test_orders: z.enum(['skip', 'include']).default('skip'),
      date: z.enum(['created', 'paid', 'completed']).default('created').describe("which of the order's dates is the invoice date"),
      when: expression.optional().describe('JSONata over the order; orders for which it is not true are skipped'),
    })
    .default({ statuses: ['processing', 'completed'], test_orders: 'skip', date: 'created' }),
  customer: z.strictObject({
    number: template(ORDER_VARS),
    guest_number: template(ORDER_VARS),
    language: z.enum(['de', 'fr', 'it', 'en', 'sv']).default('de'),
    /** Language by billing country, overriding `language`. */
    languages: z.record(countryCode, z.enum(['de', 'fr', 'it', 'en', 'sv'])).default({}),
    type: z.enum(['auto', 'person', 'company']).default('auto').describe('auto: a company when the billing address names one'),
    /** What to do with a field longer than the target allows: reject the order, or cut it and warn. */
    overlong: z.enum(['reject', 'truncate']).default('reject'),
  }),
  numbering: z
    .strictObject({
      invoice: template(ORDER_VARS).default('{number}'),
      credit_note: template([...ORDER_VARS, 'refund_id']).default('{number}-C{refund_id}'),
      storno: template(ORDER_VARS).default('{number}-S'),
      /** The credit note that takes back a whole invoice: a cancellation in a settled VAT period, or a correction (instead of a storno). */
      cancellation: template(ORDER_VARS).default('{number}-X'),
      /**
       * The documents of a corrected order's later invoices (revision 2, 3, …): {base} is the
       * number the document would have on the first invoice, {revision} the invoice's revision.
       */
      revision: template(['base', 'revision']).default('{base}-R{revision}').describe("number of a document of a corrected order's later invoice: {base} is its number on the first invoice, {revision} the invoice's revision (2, 3, …)"),
      /** Keep only the digits of every number: Run my Accounts builds the QR reference from invnumber. */
      digits_only: z.boolean().default(false),
    })
    .default({ invoice: '{number}', credit_note: '{number}-C{refund_id}', storno: '{number}-S', cancellation: '{number}-X', revision: '{base}-R{revision}', digits_only: false }),
  invoice: z.strictObject({
    description: template(ORDER_VARS).default('Order {number}'),
    receivable_account: account,
    /** Receivables in other currencies on their own accounts (RMA: 1102 Forderungen Ausland Fremdwährungen). */
    receivable_by_currency: z.record(currencyCode, account).default({}),
    payment_terms_days: numeric(z.number().int().nonnegative()).default(30),
    /** Calendar dates of documents are taken in this zone. */
    timezone: timeZone.default('Europe/Zurich'),
  }),
  countries: z
    .strictObject({
      domestic: z.array(countryCode).min(1).default(['CH', 'LI']),
      eu: z.array(countryCode).default([...EU_COUNTRIES]),
    })
    .default({ domestic: ['CH', 'LI'], eu: [...EU_COUNTRIES] }),
  accounts: z.strictObject({
    revenue: z.array(z.strictObject({ vat_rate: percent, account })).min(1).describe('the revenue account of product lines by VAT rate, when no rule matches'),
    rules: z.array(rule).default([]).describe('routing rules, first match wins'),
    shipping: account,
    fees: account,
    /** An account for discounts, or `revenue` to book them on the revenue account of the line. */
    discount: z.union([z.literal('revenue'), account]).default('revenue'),
  }),
  articles: z
    .strictObject({
      product: template(['sku', 'vat_code']).default('{sku}').describe('part number of a product line'),
      shipping: template(['vat_code', 'account']).default('SHIPPING-{vat_code}'),
      fee: template(['vat_code', 'account']).default('FEE-{vat_code}'),
      discount: template(['vat_code', 'account']).default('DISCOUNT-{vat_code}').describe('part number of a discount line; add {account} when discounts of one VAT code go to several revenue accounts'),
      deposit: template(['vat_code', 'account']).default('DEPOSIT-{vat_code}'),
      /** A product line without a SKU uses this part number instead. */
      missing_sku: z.string().min(1).optional(),
    })
    .default({ product: '{sku}', shipping: 'SHIPPING-{vat_code}', fee: 'FEE-{vat_code}', discount: 'DISCOUNT-{vat_code}', deposit: 'DEPOSIT-{vat_code}' }),
  vat: z.strictObject({
    /**
     * per_line: book the shop's own line VAT (reproduces the shop's totals).
     * per_rate_group: recompute VAT once per rate from the group's net (or gross, when the
     * shop's prices include VAT).
     */
    rounding: z.enum(['per_line', 'per_rate_group']).default('per_line'),
    rates: z
      .array(
        z.strictObject({
          rate: percent,
          code: z.string().min(1),
          account,
          valid_from: date.optional(),
          valid_to: date.optional(),
        }),
      )
      .min(1),
  }),
  deposits: z
    .strictObject({
      when: expression.describe('JSONata over the order: true for a deposit request (Akonto, A3/A7)'),
      account: account.describe('the deposit (Anzahlungen) account the deposit is booked on'),
      final_when: expression.describe('JSONata over the order: true for a final settlement (A4/A8)'),
      deposit_orders: expression.describe('JSONata over the order: the ids of the deposit orders it settles'),
    })
    .optional(),
  payments: z
    .strictObject({
      /**
       * Payment gateway (the shop's payment method id) → clearing account. An order the shop
       * reports paid through a listed gateway gets a payment (D1) on that account; orders paid
       * any other way (bank transfer) stay open for the target's own bank booking.
       */
      clearing: z.record(z.string().min(1), account).default({}),
      /** Accounts a payment must never book to directly: the bank accounts the target books itself. */
      bank_accounts: z.array(account).default([]),
      /** D3: the account of provider fees withheld from the payout. */
      fee_account: account.optional(),
      /** D2: a difference up to `tolerance` minor units between paid and open is written off on `account`. */
      write_off: z.strictObject({ account, tolerance: numeric(z.number().int().positive().max(1000)) }).optional(),
      /** D4: a shortfall above the write-off tolerance, up to `max_percent` of the total, is skonto on `account`. */
      skonto: z.strictObject({ account, max_percent: numeric(z.number().positive().max(10)) }).optional(),
    })
    .default({ clearing: {}, bank_accounts: [] }),
  refunds: z
    .strictObject({
      /** credit_note: every refund the shop records becomes a credit note (B1/B2); ignore: refunds are booked by hand. */
      book: z.enum(['credit_note', 'ignore']).default('credit_note'),
    })
    .default({ book: 'credit_note' }),
  cancellations: z
    .strictObject({
      statuses: z.array(z.string().min(1)).default(['cancelled']).describe('statuses that cancel an order that was booked'),
      transfer_account: account.describe('the transfer account a storno is closed through (C2/C3)'),
      /** Up to this date the VAT is declared: an invoice dated on or before it gets a credit note instead of a storno. */
      vat_settled_until: date.optional(),
    })
    .optional(),
  corrections: z
    .strictObject({
      /**
       * What an order that changed after its invoice was booked becomes. credit_note: a credit
       * note takes back the old invoice, then a new invoice; storno: a storno through
       * cancellations.transfer_account (a credit note once the VAT period is settled), then a new
       * invoice; quarantine: the new version waits in the quarantine.
       */
      policy: z.enum(['credit_note', 'storno', 'quarantine']).default('credit_note').describe('what an order that changed after its invoice was booked becomes: a credit note or a storno taking back the old invoice, then a new invoice; or it waits in the quarantine'),
    })
    .default({ policy: 'credit_note' }),
  rounding: z.strictObject({
    account,
    /** The largest difference (minor units) between the shop's total and ours that a rounding line may absorb. */
    max_residue: numeric(z.number().int().nonnegative().max(100)).default(5),
    /** Round every document total to this many minor units (5: CHF 5-Rappen rounding), booked on `account`. */
    cash_step: numeric(z.number().int().positive().max(100)).optional(),
  }),
});

export type MappingSpec = z.infer<typeof mappingSchema>;
export type RoutingRule = MappingSpec['accounts']['rules'][number];
