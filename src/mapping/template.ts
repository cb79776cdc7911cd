/**
 * Number and text templates: `WC-{customer_id}`, `Webshop order {number}`.
 * Only named placeholders, no expressions: numbers must come out the same every time.
 */
export const TEMPLATE_VARIABLES = ['id', 'number', 'customer_id', 'email', 'year'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Placeholders that are not known variables; empty when the template is fine. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((n) => !(TEMPLATE_VARIABLES as readonly string[]).includes(n));
}

export function renderTemplate(template: string, values: Record<TemplateVariable, string>): string {
  return template.replace(PLACEHOLDER, (_, name: TemplateVariable) => values[name]);
}
