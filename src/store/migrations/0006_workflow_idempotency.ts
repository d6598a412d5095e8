/**
 * Migration 6: an idempotency key per workflow, like jobs have (0001), so a client that lost
 * the answer to a create can send it again and get the workflow it already made.
 */
export default `
  ALTER TABLE workflows ADD COLUMN idempotency_key TEXT;
  CREATE UNIQUE INDEX workflows_idempotency ON workflows(owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
`;
