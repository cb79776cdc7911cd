/**
 * The mapping format as JSON Schema, for editors (yaml-language-server) to autocomplete and
 * check mapping files. Generated from the zod schema that kontor itself validates with, so
 * the two cannot disagree; `schemas/mapping.schema.json` is this output, and a test keeps
 * the committed file current.
 */
import { z } from 'zod';
import { mappingSchema } from './schema.js';

export function mappingJsonSchema(): Record<string, unknown> {
  // Input side: what a person writes (defaults optional, numbers or strings where both are read).
  const schema = z.toJSONSchema(mappingSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://kontor.invalid/schemas/mapping.schema.json',
    title: 'kontor mapping file (version 1)',
    description: 'How a source\'s orders become bookkeeping documents. Reference: docs/mapping.md',
  };
}
