/**
 * Number and text templates: `WC-{customer_id}`, `Webshop order {number}`.
 * Only named placeholders, no expressions: numbers must come out the same every time.
 */
export const TEMPLATE_VARIABLES = ['id', 'number', 'customer_id', 'email', 'year', 'refund_id', 'sku', 'vat_code', 'account', 'base', 'revision'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Partial<Record<TemplateVariable, string>>;

const PLACEHOLDER = /\{([^{}]*)\}/g;

function isVariable(name: string): name is TemplateVariable {
  return (TEMPLATE_VARIABLES as readonly string[]).includes(name);
}

/** Placeholders that are not known variables; empty when the template is fine. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((n) => !isVariable(n));
}

/** The known variables a template uses. */
export function templateVariablesIn(template: string): TemplateVariable[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter(isVariable);
}

export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (_, name: TemplateVariable) => values[name] ?? '');
}

/**
 * What is left of a template's output once only digits are kept: placeholders stay, literal
 * characters other than digits go. Two templates with the same skeleton can give the same
 * digits-only number.
 */
export function digitSkeleton(template: string): string {
  return template
    .split(PLACEHOLDER)
    .map((part, i) => (i % 2 === 1 ? `{${part}}` : part.replace(/\D/g, '')))
    .join('');
}
