/**
 * Orders from a CSV file (docs/sources/csv.md): one row per order line, rows grouped by
 * `order_id`. The delimiter is `,` or `;` (whichever the header line uses), line breaks may be
 * LF, CRLF or CR, a UTF-8 byte order mark is dropped. Amounts are decimal strings with a dot,
 * parsed exactly; VAT the file leaves out is computed per line with integer arithmetic.
 *
 * A bad value rejects only its order: the error names `file:LINE: column NAME`, and the other
 * orders of the file still parse. A broken header or broken CSV syntax (an unclosed quote)
 * rejects the whole file, because rows can then no longer be told apart reliably.
 */
import type * as CsvParse from 'csv-parse/sync';
import {
  add,
  BooksError,
  currencyExponent,
  formatDecimal,
  formatRate,
  isKnownCurrency,
  parseDecimal,
  sub,
  sum,
  times,
  vatFromGross,
  vatFromNet,
  vatRate,
  ZERO,
  type Minor,
  type VatRate,
} from '../books/index.js';
import { onFirstUse } from './on-first-use.js';
import type { CanonicalOrder, LineKind, OrderLine, OrderPayment, OrderTaxTotal } from './order.js';

/** With the first CSV file: every kontor command imports the file source, most projects read JSON (~40 ms to load). */
const csvParse = onFirstUse<typeof CsvParse>('csv-parse/sync');

export interface CsvOrderError {
  /** Line of the CSV file (the header is line 1). */
  line: number;
  /** The order the error rejects, or null when the row names none (or the whole file fails). */
  orderId: string | null;
  /** `file:LINE: column NAME: what is wrong`. */
  message: string;
}

/** Columns that describe the order: they must agree on every row of the order that fills them. */
const ORDER_COLUMNS = [
  'order_id', 'order_number', 'status', 'created_at', 'currency', 'prices_include_tax',
  'customer_id', 'email', 'first_name', 'last_name', 'company', 'street', 'street2', 'zipcode', 'city', 'country', 'vat_id',
  'order_total', 'payment_method', 'paid_at', 'transaction_id',
] as const;
/** Columns that describe the row's line. */
const LINE_COLUMNS = ['line_kind', 'sku', 'name', 'category', 'quantity', 'unit_price', 'discount', 'vat_rate', 'vat_amount'] as const;
const REQUIRED = ['order_id', 'created_at', 'currency', 'name', 'unit_price', 'vat_rate'] as const;
/** `meta_<key>` columns become the order's meta values (`meta.<key>` in mapping expressions). */
const META_PREFIX = 'meta_';
const LINE_KINDS: readonly LineKind[] = ['product', 'shipping', 'fee', 'discount'];

interface Row {
  line: number;
  values: Map<string, string>;
}

/** A cell that cannot be read; collected per order. */
class CellError extends Error {
  constructor(
    readonly line: number,
    readonly column: string,
    message: string,
  ) {
    super(message);
  }
}

const LINE_BREAK = /\r\n|\r|\n/g;
const countBreaks = (text: string): number => (text.match(LINE_BREAK) ?? []).length;

/** `,` or `;`, whichever occurs more often outside quotes in the header line (`,` on a tie). */
function detectDelimiter(text: string): string {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && ch === ',') commas++;
    else if (!quoted && ch === ';') semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

const zurichParts = new Intl.DateTimeFormat('en-US', {
  timeZone: 'Europe/Zurich',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** Europe/Zurich's offset from UTC at instant `ms`, in milliseconds. */
function zurichOffset(ms: number): number {
  const parts = Object.fromEntries(zurichParts.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const local = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return local - ms;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * An ISO 8601 timestamp with a zone (`2026-03-14T10:22:00+01:00`, `…Z`), or a date
 * (`2026-03-14`), which means midnight in Europe/Zurich. Returns ISO-8601 UTC.
 */
function timestamp(text: string): string {
  const date = DATE.exec(text);
  const full = date ? null : DATE_TIME.exec(text);
  const m = date ?? full;
  if (!m) throw new Error(`"${text}" is not a date (2026-03-14) or a timestamp with a zone (2026-03-14T10:22:00+01:00)`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = Date.UTC(y, mo - 1, d);
  const check = new Date(day);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) throw new Error(`"${text}" is not a valid date`);
  // Swiss clocks change at 01:00 UTC, so the offset at UTC midnight is the offset at local midnight.
  if (date) return new Date(day - zurichOffset(day)).toISOString();
  const [h, mi, s] = [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (h > 23 || mi > 59 || s > 59) throw new Error(`"${text}" is not a valid time`);
  const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const zone = m[8]!.toUpperCase();
  const offset = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) * 60_000;
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s, millis) - offset).toISOString();
}

function decimal(text: string, exponent: number): Minor {
  if (/^[+-]?\d+,\d+$/.test(text)) throw new Error(`"${text}": use a dot as the decimal separator`);
  try {
    return parseDecimal(text, exponent);
  } catch (error) {
    throw new Error((error as BooksError).message);
  }
}

/** Reads the cells of one order, collecting every unreadable cell instead of stopping at the first. */
class Cells {
  readonly errors: CellError[] = [];
  constructor(
    private readonly header: Map<string, { value: string; line: number }>,
    /** Where an order column no row fills is reported: the order's first row. */
    private readonly firstLine: number,
  ) {}

  /** Run `read` on a cell's text; on failure record the error and return undefined. */
  private at<T>(line: number, column: string, read: () => T): T | undefined {
    try {
      return read();
    } catch (error) {
      this.errors.push(new CellError(line, column, (error as Error).message));
      return undefined;
    }
  }

  order<T>(column: string, read: (text: string) => T, fallback: T, required = false): T {
    const cell = this.header.get(column);
    if (!cell) {
      if (required) this.errors.push(new CellError(this.firstLine, column, 'a value is required'));
      return fallback;
    }
    return this.at(cell.line, column, () => read(cell.value)) ?? fallback;
  }

  orderText(column: string): string {
    return this.header.get(column)?.value ?? '';
  }

  line<T>(row: Row, column: string, read: (text: string) => T, fallback: T, required = false): T {
    const text = row.values.get(column) ?? '';
    if (text === '') {
      if (required) this.errors.push(new CellError(row.line, column, 'a value is required'));
      return fallback;
    }
    return this.at(row.line, column, () => read(text)) ?? fallback;
  }

  fail(line: number, column: string, message: string): void {
    this.errors.push(new CellError(line, column, message));
  }
}

interface LineAmounts {
  netBeforeDiscount: Minor;
  net: Minor;
  tax: Minor;
  taxBeforeDiscount: Minor;
}

/**
 * A line's amounts. `amount` = unit_price × quantity and `discount` are net or gross as the
 * order's prices are; `shopTax` is the file's VAT after the discount, when it gives one.
 * The VAT on the discount is always computed, so taxBeforeDiscount − tax is the discount's VAT.
 */
function amounts(amount: Minor, discount: Minor, rate: VatRate, shopTax: Minor | null, includesTax: boolean): LineAmounts {
  const after = sub(amount, discount);
  if (!includesTax) {
    const tax = shopTax ?? vatFromNet(after, rate);
    const discountTax = sub(vatFromNet(amount, rate), vatFromNet(after, rate));
    return { netBeforeDiscount: amount, net: after, tax, taxBeforeDiscount: add(tax, discountTax) };
  }
  const tax = shopTax ?? vatFromGross(after, rate);
  const discountTax = sub(vatFromGross(amount, rate), vatFromGross(after, rate));
  const taxBeforeDiscount = add(tax, discountTax);
  return { netBeforeDiscount: sub(amount, taxBeforeDiscount), net: sub(after, tax), tax, taxBeforeDiscount };
}

function buildOrder(source: string, file: string, id: string, rows: Row[], header: Map<string, { value: string; line: number }>): CanonicalOrder | CellError[] {
  const cells = new Cells(header, rows[0]!.line);
  const currency = cells.order(
    'currency',
    (text) => {
      const code = text.toUpperCase();
      if (!isKnownCurrency(code)) throw new Error(`unknown currency "${text}" (ISO 4217 code expected)`);
      return code;
    },
    '',
    true,
  );
  const exponent = currency ? currencyExponent(currency) : 2;
  const createdAt = cells.order('created_at', timestamp, '', true);
  const includesTax = cells.order(
    'prices_include_tax',
    (text) => {
      const t = text.toLowerCase();
      if (t !== 'true' && t !== 'false') throw new Error(`expected true or false, got "${text}"`);
      return t === 'true';
    },
    false,
  );
  const orderTotal = cells.order<Minor | null>('order_total', (text) => decimal(text, exponent), null);
  const paidAt = cells.order<string | null>('paid_at', timestamp, null);

  const lines: OrderLine[] = [];
  rows.forEach((row, index) => {
    const kind = cells.line(
      row,
      'line_kind',
      (text) => {
        const k = text.toLowerCase() as LineKind;
        if (!LINE_KINDS.includes(k)) throw new Error(`"${text}" is not one of ${LINE_KINDS.join(', ')}`);
        return k;
      },
      'product' as LineKind,
    );
    const name = cells.line(row, 'name', (text) => text, '', true);
    const quantity = cells.line(
      row,
      'quantity',
      (text) => {
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < 1) throw new Error(`"${text}" is not a whole number of at least 1`);
        return Number(text);
      },
      1,
    );
    const unit = cells.line<Minor | null>(row, 'unit_price', (text) => decimal(text, exponent), null, true);
    const discount = cells.line(
      row,
      'discount',
      (text) => {
        const d = decimal(text, exponent);
        if (d < 0) throw new Error(`"${text}": a discount is written as a positive amount`);
        return d;
      },
      ZERO,
    );
    const rate = cells.line<VatRate | null>(
      row,
      'vat_rate',
      (text) => {
        try {
          return vatRate(text.replace(/\s*%$/, ''));
        } catch (error) {
          throw new Error((error as BooksError).message);
        }
      },
      null,
      true,
    );
    const shopTax = cells.line<Minor | null>(row, 'vat_amount', (text) => decimal(text, exponent), null);
    if (unit === null || rate === null) return;

    let amount: Minor;
    try {
      amount = times(unit, quantity);
    } catch (error) {
      cells.fail(row.line, 'unit_price', (error as Error).message);
      return;
    }
    if (kind === 'discount' && unit > 0) cells.fail(row.line, 'unit_price', 'a discount line has a negative unit_price (e.g. -10.00)');
    if ((kind === 'product' || kind === 'shipping') && unit < 0) cells.fail(row.line, 'unit_price', `a ${kind} line cannot have a negative unit_price; use line_kind discount`);
    if (kind === 'discount' && discount !== 0) cells.fail(row.line, 'discount', 'a discount line takes no discount of its own');
    if (amount >= 0 && discount > amount) {
      cells.fail(row.line, 'discount', `${formatDecimal(discount, exponent)} is more than the line's ${formatDecimal(amount, exponent)}`);
    }
    const after = sub(amount, discount);
    if (shopTax !== null && shopTax !== 0 && (shopTax < 0) !== (after < 0)) {
      cells.fail(row.line, 'vat_amount', 'has the opposite sign of the line amount');
    }
    lines.push({
      kind,
      ref: String(index + 1),
      field: `${file}:${row.line}`,
      sku: row.values.get('sku') ?? '',
      name,
      quantity,
      categories: (row.values.get('category') ?? '').split('|').map((c) => c.trim()).filter(Boolean),
      ...amounts(amount, discount, rate, shopTax, includesTax),
      vatRate: rate,
    });
  });

  const method = cells.orderText('payment_method');
  const transactionId = cells.orderText('transaction_id');
  if (!method && (paidAt !== null || transactionId)) {
    const cell = header.get('paid_at') ?? header.get('transaction_id')!;
    cells.fail(cell.line, 'payment_method', 'a value is required when paid_at or transaction_id is given');
  }
  if (cells.errors.length > 0) return cells.errors;

  const taxTotals: OrderTaxTotal[] = [];
  for (const l of lines) {
    if (l.vatRate === 0) continue;
    const found = taxTotals.find((t) => t.rate === l.vatRate);
    if (found) found.tax = add(found.tax, l.tax);
    else taxTotals.push({ rate: l.vatRate, label: `${formatRate(l.vatRate)} %`, tax: l.tax });
  }
  const payment: OrderPayment | null = method ? { method, title: method, transactionId, paidAt, amount: null, fee: ZERO } : null;
  const meta: Record<string, string> = {};
  for (const [column, cell] of header) {
    if (column.startsWith(META_PREFIX)) meta[column.slice(META_PREFIX.length)] = cell.value;
  }
  const text = (column: string) => cells.orderText(column);
  return {
    source,
    id,
    number: text('order_number') || id,
    status: text('status') || 'completed',
    test: false,
    createdAt,
    updatedAt: createdAt,
    completedAt: null,
    currency,
    pricesIncludeTax: includesTax,
    customer: {
      id: text('customer_id') || null,
      email: text('email'),
      firstName: text('first_name'),
      lastName: text('last_name'),
      company: text('company'),
      phone: '',
      vatId: text('vat_id'),
      billing: { street: text('street'), street2: text('street2'), zipcode: text('zipcode'), city: text('city'), state: '', country: text('country') },
      shipping: null,
    },
    lines,
    coupons: [],
    taxTotals,
    totalTax: sum(lines.map((l) => l.tax)),
    total: orderTotal ?? sum(lines.map((l) => add(l.net, l.tax))),
    payment,
    refunds: [],
    meta,
  };
}

interface RawRecord {
  record: string[];
  raw: string;
}

export function parseCsvOrders(source: string, text: string, file: string): { orders: CanonicalOrder[]; errors: CsvOrderError[] } {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return { orders: [], errors: [] };
  const fileError = (line: number, message: string) => ({ orders: [], errors: [{ line, orderId: null, message: `${file}:${line}: ${message}` }] });

  let records: RawRecord[];
  try {
    records = csvParse().parse(body, {
      delimiter: detectDelimiter(body),
      // Each record's raw text gives its line number; record_delimiter is detected (LF, CRLF, CR).
      raw: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as RawRecord[];
  } catch (error) {
    const e = error as Error & { lines?: number };
    return fileError(e.lines ?? 1, `the file is not valid CSV: ${e.message}`);
  }

  // Line numbers from the raw text of each record: csv-parse's own count drifts on CRLF inside quotes.
  let before = 0;
  const numbered = records.map((r) => {
    const leading = /^(?:\r\n|\r|\n)*/.exec(r.raw)![0];
    const line = before + countBreaks(leading) + 1;
    before += countBreaks(r.raw);
    return { line, cells: r.record.map((c) => c.trim()) };
  });

  const [head, ...dataRows] = numbered;
  const columns = head!.cells.map((c) => c.toLowerCase());
  const known = new Set<string>([...ORDER_COLUMNS, ...LINE_COLUMNS]);
  const headerErrors: string[] = [];
  columns.forEach((c, i) => {
    if (c === '') headerErrors.push(`column ${i + 1} has no name`);
    else if (columns.indexOf(c) !== i) headerErrors.push(`column ${c} appears twice`);
    else if (!known.has(c) && !(c.startsWith(META_PREFIX) && c.length > META_PREFIX.length)) {
      headerErrors.push(`column ${c} is unknown (see docs/sources/csv.md; free columns are named meta_<key>)`);
    }
  });
  for (const c of REQUIRED) if (!columns.includes(c)) headerErrors.push(`column ${c} is missing`);
  if (headerErrors.length > 0) {
    return { orders: [], errors: headerErrors.map((m) => ({ line: head!.line, orderId: null, message: `${file}:${head!.line}: ${m}` })) };
  }

  const errors: CsvOrderError[] = [];
  const report = (line: number, orderId: string | null, column: string | null, message: string) =>
    errors.push({ line, orderId, message: `${file}:${line}: ${column ? `column ${column}: ` : ''}${message}` });
  const groups = new Map<string, Row[]>();
  const failed = new Set<string>();
  const orderIdAt = columns.indexOf('order_id');
  for (const { line, cells } of dataRows) {
    if (cells.every((c) => c === '')) continue;
    const orderId = cells[orderIdAt] ?? '';
    if (orderId === '') {
      report(line, null, 'order_id', 'a value is required');
      continue;
    }
    if (cells.length !== columns.length) {
      report(line, orderId, null, `the row has ${cells.length} fields, the header ${columns.length}`);
      failed.add(orderId);
      continue;
    }
    const values = new Map(columns.map((c, i) => [c, cells[i]!]));
    const rows = groups.get(orderId) ?? [];
    rows.push({ line, values });
    groups.set(orderId, rows);
  }

  const orders: CanonicalOrder[] = [];
  for (const [orderId, rows] of groups) {
    // The order's header: the first value each order column has; other rows must agree or leave it empty.
    const header = new Map<string, { value: string; line: number }>();
    let disagrees = false;
    for (const row of rows) {
      for (const [column, value] of row.values) {
        if (value === '' || !(column.startsWith(META_PREFIX) || (ORDER_COLUMNS as readonly string[]).includes(column))) continue;
        const first = header.get(column);
        if (!first) header.set(column, { value, line: row.line });
        else if (first.value !== value) {
          report(row.line, orderId, column, `"${value}" disagrees with "${first.value}" on line ${first.line} of order ${orderId}`);
          disagrees = true;
        }
      }
    }
    const built = buildOrder(source, file, orderId, rows, header);
    if (Array.isArray(built)) {
      for (const e of built) report(e.line, orderId, e.column, e.message);
      continue;
    }
    if (!disagrees && !failed.has(orderId)) orders.push(built);
  }
  errors.sort((a, b) => a.line - b.line);
  return { orders, errors };
}
