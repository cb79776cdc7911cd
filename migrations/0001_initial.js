// @ts-check
/**
 * kontor's first schema: cursors and snapshots of what sources delivered, the documents
 * mapped from them, the outbox that delivers them, the quarantine for records that could
 * not be mapped, and the local journal target.
 *
 * Money columns are bigint minor units. Timestamps are ISO-8601 UTC text so the same
 * comparisons work on SQLite and PostgreSQL.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.createTable('source_cursors', (t) => {
    t.string('source', 100).primary();
    t.text('cursor').notNullable();
    t.string('updated_at', 32).notNullable();
  });

  await knex.schema.createTable('source_snapshots', (t) => {
    t.increments('id').primary();
    t.string('source', 100).notNullable();
    t.string('record_id', 200).notNullable();
    t.string('content_hash', 64).notNullable();
    t.text('raw').notNullable();
    t.string('origin', 500).notNullable();
    t.string('fetched_at', 32).notNullable();
    t.unique(['source', 'record_id', 'content_hash']);
    t.index(['source', 'record_id']);
  });

  await knex.schema.createTable('documents', (t) => {
    t.increments('id').primary();
    t.string('doc_key', 300).notNullable().unique();
    t.string('source', 100).notNullable();
    t.string('subject', 200).notNullable();
    t.string('kind', 30).notNullable();
    t.integer('revision').notNullable();
    t.string('content_hash', 64).notNullable();
    t.integer('snapshot_id').references('id').inTable('source_snapshots');
    t.text('body').notNullable();
    t.string('created_at', 32).notNullable();
    t.index(['source', 'subject', 'kind']);
  });

  await knex.schema.createTable('outbox_entries', (t) => {
    t.increments('id').primary();
    t.string('entry_key', 400).notNullable().unique();
    t.integer('document_id').notNullable().references('id').inTable('documents');
    t.string('target', 100).notNullable();
    t.string('state', 20).notNullable();
    t.integer('depends_on').references('id').inTable('outbox_entries');
    t.integer('attempts').notNullable().defaultTo(0);
    // Set when a send may have reached the target: look it up there before sending again.
    t.boolean('verify_first').notNullable().defaultTo(false);
    t.string('available_at', 32).notNullable();
    t.string('lease_owner', 100);
    t.string('lease_until', 32);
    t.string('external_id', 200);
    t.text('last_error');
    t.string('created_at', 32).notNullable();
    t.string('updated_at', 32).notNullable();
    t.index(['target', 'state', 'available_at', 'id']);
  });

  await knex.schema.createTable('outbox_events', (t) => {
    t.increments('id').primary();
    t.integer('entry_id').notNullable().references('id').inTable('outbox_entries');
    t.string('from_state', 20);
    t.string('to_state', 20).notNullable();
    t.text('cause').notNullable();
    t.string('at', 32).notNullable();
    t.index(['entry_id']);
  });

  await knex.schema.createTable('quarantine', (t) => {
    t.increments('id').primary();
    t.string('source', 100).notNullable();
    t.string('record_id', 200).notNullable();
    t.string('content_hash', 64).notNullable();
    t.text('reason').notNullable();
    t.string('field', 300);
    t.string('origin', 500).notNullable();
    t.text('raw').notNullable();
    t.string('created_at', 32).notNullable();
    t.string('resolved_at', 32);
    t.string('resolution', 300);
    t.unique(['source', 'record_id', 'content_hash']);
  });

  await knex.schema.createTable('journal_entries', (t) => {
    t.increments('id').primary();
    t.string('target', 100).notNullable();
    t.string('doc_key', 300).notNullable();
    t.string('kind', 30).notNullable();
    t.string('number', 100).notNullable();
    t.string('entry_date', 10);
    t.string('currency', 3);
    t.text('description').notNullable();
    t.text('master_data');
    t.string('booked_at', 32).notNullable();
    t.unique(['target', 'doc_key']);
  });

  await knex.schema.createTable('journal_lines', (t) => {
    t.increments('id').primary();
    t.integer('entry_id').notNullable().references('id').inTable('journal_entries');
    t.integer('line_no').notNullable();
    t.string('account', 50).notNullable();
    t.bigInteger('amount').notNullable();
    t.string('currency', 3).notNullable();
    t.integer('vat_rate_bp');
    t.string('vat_code', 50);
    t.text('text').notNullable();
    t.unique(['entry_id', 'line_no']);
    t.index(['account']);
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  for (const table of [
    'journal_lines',
    'journal_entries',
    'quarantine',
    'outbox_events',
    'outbox_entries',
    'documents',
    'source_snapshots',
    'source_cursors',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
