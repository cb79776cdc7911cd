// @ts-check
/**
 * Events that Billecta pushes to kontor's webhook endpoint (issue #7): payments received,
 * amounts credited or written off, invoices fully paid, and any event kontor does not know
 * yet (stored with `known` false, never dropped).
 *
 * `reference` is the idempotency key within a `source`: Billecta's PaymentReferenceId when
 * the event carries one (see src/service/webhooks.ts for the fallbacks), so a redelivered
 * event finds its row and is not recorded twice. Amounts are bigint minor units; timestamps
 * ISO-8601 UTC text, as everywhere else.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.createTable('webhook_events', (t) => {
    t.increments('id').primary();
    t.string('source', 50).notNullable();
    t.string('event_type', 200).notNullable();
    t.string('reference', 300).notNullable();
    t.string('invoice_public_id', 200);
    t.bigInteger('amount_minor');
    t.string('currency', 3);
    t.string('occurred_at', 40);
    t.text('payload').notNullable();
    t.string('received_at', 32).notNullable();
    t.boolean('known').notNullable();
    t.unique(['source', 'reference']);
    t.index(['source', 'event_type', 'currency']);
    t.index(['invoice_public_id']);
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTableIfExists('webhook_events');
}
