import { createHash } from 'node:crypto';

/** Hex SHA-256 of a text; used for record and document content hashes. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
