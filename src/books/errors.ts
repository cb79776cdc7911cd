/**
 * Errors raised by the domain. They carry no recovery policy themselves: the layer that
 * calls into books decides (a mapping turns them into a quarantined record, say).
 */
export class BooksError extends Error {
  override name = 'BooksError';
}

/** A document whose postings do not sum to zero per currency. Never delivered. */
export class UnbalancedDocumentError extends BooksError {
  override name = 'UnbalancedDocumentError';
  constructor(
    readonly documentKey: string,
    readonly imbalance: Record<string, number>,
  ) {
    super(
      `document ${documentKey} does not balance: ${Object.entries(imbalance)
        .map(([c, a]) => `${c} ${a}`)
        .join(', ')} minor units`,
    );
  }
}
