/**
 * Errors raised by the domain. Each says what is wrong and, where there is one, what to do
 * next (`hint`). They carry no recovery policy themselves: the layer that calls into books
 * decides (a mapping turns them into a quarantined record, say).
 */
export class BooksError extends Error {
  override name = 'BooksError';
  /** The input field at fault, when there is one (`lines[2].amount`). */
  readonly field: string | undefined;
  /** What a person can do about it. */
  readonly hint: string | undefined;

  constructor(message: string, options: { field?: string; hint?: string } = {}) {
    super(options.hint ? `${message}; ${options.hint}` : message);
    this.field = options.field;
    this.hint = options.hint;
  }
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

/** The document's gross differs from the source's total by more than the rounding line may absorb. */
export class TotalMismatchError extends BooksError {
  override name = 'TotalMismatchError';
  constructor(
    message: string,
    readonly expected: number,
    readonly computed: number,
    readonly maxResidue: number,
  ) {
    super(message, { field: 'total', hint: 'check the order lines against the shop, or raise the rounding cap if the shop rounds coarser' });
  }
}

/** The shop's own VAT for a rate is further from ours than per-line rounding can explain. */
export class VatMismatchError extends BooksError {
  override name = 'VatMismatchError';
  constructor(
    message: string,
    /** VAT rate in basis points, the shop's VAT and ours, in minor units. */
    readonly rate: number,
    readonly shop: number,
    readonly ours: number,
    options: { field?: string } = {},
  ) {
    super(message, { ...options, hint: 'the order is inconsistent: check its line taxes against their net amounts, or let kontor compute VAT (per line or per rate group)' });
  }
}

/** A credit note would credit more than was invoiced (B1/B2). */
export class OverCreditError extends BooksError {
  override name = 'OverCreditError';
}

/** A final settlement would deduct more than the deposits received (A4/A8). */
export class OverDeductionError extends BooksError {
  override name = 'OverDeductionError';
}

/** Payments would settle more than is open on a document (D1–D4). */
export class OverpaymentError extends BooksError {
  override name = 'OverpaymentError';
}

/** A storno or netting group leaves a balance on the transfer account (C2/C3, D5). */
export class TransferImbalanceError extends BooksError {
  override name = 'TransferImbalanceError';
}

/** A storno was asked for an invoice whose VAT period is already settled (C2/C3). */
export class VatPeriodSettledError extends BooksError {
  override name = 'VatPeriodSettledError';
}
