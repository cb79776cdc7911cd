// @ts-check
/**
 * Every document kind of the books (issue #3): documents gain the `part` of their key (one
 * order has several payments), and journal entries record what they settle, which storno or
 * netting group they belong to, and their receivable amount, so open items and group
 * balances are plain queries.
 *
 * @param {import('knex').Knex} knex
 */
export async function up(knex) {
  await knex.schema.alterTable('documents', (t) => {
    t.string('part', 100).notNullable().defaultTo('');
    t.dropIndex(['source', 'subject', 'kind']);
    t.index(['source', 'subject', 'kind', 'part']);
  });
  await knex.schema.alterTable('journal_entries', (t) => {
    t.string('applies_to', 100);
    t.string('group_key', 200);
    t.bigInteger('receivable');
    t.index(['target', 'applies_to']);
    t.index(['target', 'number']);
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.alterTable('journal_entries', (t) => {
    t.dropIndex(['target', 'number']);
    t.dropIndex(['target', 'applies_to']);
    t.dropColumn('receivable');
    t.dropColumn('group_key');
    t.dropColumn('applies_to');
  });
  await knex.schema.alterTable('documents', (t) => {
    t.dropIndex(['source', 'subject', 'kind', 'part']);
    t.index(['source', 'subject', 'kind']);
    t.dropColumn('part');
  });
}
