/**
 * Mapping file format, version 1 (the thin first cut; docs/mapping.md is its reference).
 */
import { z } from 'zod';
import { accountNumber, numeric, timeZone } from '../config/schema.js';
import { TEMPLATE_VARIABLES, unknownPlaceholders } from './template.js';

const account = accountNumber;
const percent = z.union([z.number(), z.string()]).transform(String).pipe(z.string().regex(/^\d{1,2}(\.\d{1,2})?$|^100$/, 'a VAT rate in percent like 8.1'));
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD');

const template = z.string().min(1).superRefine((t, ctx) => {
  const unknown = unknownPlaceholders(t);
  if (unknown.length > 0) {
    ctx.addIssue({ code: 'custom', message: `unknown placeholder {${unknown[0]}} (known: ${TEMPLATE_VARIABLES.map((v) => `{${v}}`).join(', ')})` });
  }
});

export const mappingSchema = z.strictObject({
  version: z.literal(1, { error: 'version must be 1' }),
  select: z
    .strictObject({
      /** Order statuses that are billable; everything else is skipped. */
      statuses: z.array(z.string().min(1)).min(1).default(['processing', 'completed']),
    })
    .default({ statuses: ['processing', 'completed'] }),
  customer: z.strictObject({
    number: template,
    guest_number: template,
    language: z.enum(['de', 'fr', 'it', 'en', 'sv']).default('de'),
  }),
  invoice: z.strictObject({
    number: template,
    description: template.default('Order {number}'),
    receivable_account: account,
    payment_terms_days: numeric(z.number().int().nonnegative()).default(30),
    /** Calendar dates of documents are taken in this zone. */
    timezone: timeZone.default('Europe/Zurich'),
  }),
  accounts: z.strictObject({
    revenue: z.array(z.strictObject({ vat_rate: percent, account })).min(1),
    shipping: account,
    fees: account,
    /** An account for discounts, or `revenue` to book them on the revenue account. */
    discount: z.union([z.literal('revenue'), account]).default('revenue'),
  }),
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
  payments: z
    .strictObject({
      /**
       * Payment gateway (the shop's payment method id) → clearing account. An order the shop
       * reports paid through a listed gateway gets a payment (D1) on that account; orders paid
       * any other way (bank transfer) stay open for Run my Accounts' own bank booking.
       */
      clearing: z.record(z.string().min(1), account).default({}),
      /** Accounts a payment must never book to directly: the bank accounts Run my Accounts books itself. */
      bank_accounts: z.array(account).default([]),
    })
    .default({ clearing: {}, bank_accounts: [] }),
  rounding: z
    .strictObject({
      account,
      /** The largest difference (minor units) between the shop's total and ours that a rounding line may absorb. */
      max_residue: numeric(z.number().int().nonnegative().max(100)).default(5),
      /** Round every document total to this many minor units (5: CHF 5-Rappen rounding), booked on `account`. */
      cash_step: numeric(z.number().int().positive().max(100)).optional(),
    }),
});

export type MappingSpec = z.infer<typeof mappingSchema>;
