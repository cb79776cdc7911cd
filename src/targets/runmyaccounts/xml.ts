/**
 * Run my Accounts' XML representation (reference §1: XML and JSON are both accepted, chosen by
 * Content-Type for a POST and by Accept for a response). kontor builds one set of request
 * objects (requests.ts, the JSON shape); the XML body is the same object under its root
 * element, written with fast-xml-parser's XMLBuilder:
 *
 * - the root element is the entity: `<customer>`, `<invoice>`, `<payment>` [docs];
 * - nested lists keep their wrapper, `<parts><part>…</part>…</parts>`,
 *   `<incomeentries><incomeentry>…` [docs: A1.1, part entity]. The JSON option
 *   `entryLists: 'bare'` has no meaning in XML: a bare list is wrapped again here;
 * - an empty value is an empty element (`<notes/>`, as in the docs' examples); text is escaped.
 *
 * Responses are read with XMLParser: attributes become `@`-prefixed keys exactly as RMA's
 * JSON writes them (`"@accno"`), every value stays a string, and the root element is
 * unwrapped so that an XML answer has the same shape as the JSON one (`<parts><part>…` →
 * `{ part: … }`, `<invoice>…` → the invoice object).
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/** List wrappers and their element, in both representations. */
export const LIST_ELEMENTS: Readonly<Record<string, string>> = { incomeentries: 'incomeentry', taxentries: 'taxentry', parts: 'part' };

const builder = new XMLBuilder({ format: true, indentBy: '  ', suppressEmptyNode: true, ignoreAttributes: false, attributeNamePrefix: '@' });
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false, trimValues: true });

/**
 * The root element of a POST body, from its path: `…/customers` → customer, `…/invoices` →
 * invoice, `…/invoices/{n}/payments` → payment.
 */
export function xmlRootOf(path: string): string {
  const last = path.split('?')[0]!.replace(/\/+$/, '').split('/').pop() ?? '';
  const roots: Record<string, string> = { customers: 'customer', invoices: 'invoice', payments: 'payment', payables: 'payable', parts: 'part' };
  const root = roots[last];
  if (!root) throw new Error(`no XML root element is known for a POST to …/${last}`);
  return root;
}

function rewrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewrap);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const element = LIST_ELEMENTS[key];
    out[key] = element && Array.isArray(inner) ? { [element]: inner.map(rewrap) } : rewrap(inner);
  }
  return out;
}

/** The XML document for `body` under `root`: declaration, two-space indentation, final newline. */
export function toXml(root: string, body: Record<string, unknown>): string {
  const text = builder.build({ [root]: rewrap(body) }) as string;
  return `${XML_DECLARATION}\n${text.trimEnd()}\n`;
}

/** A response body read as XML, its root element unwrapped (see the header). Empty text is null. */
export function fromXml(text: string): unknown {
  if (text.trim() === '') return null;
  const parsed = parser.parse(text) as Record<string, unknown>;
  const roots = Object.keys(parsed).filter((k) => !k.startsWith('?'));
  if (roots.length !== 1) return parsed;
  const inner = parsed[roots[0]!];
  return inner === '' ? {} : inner;
}
