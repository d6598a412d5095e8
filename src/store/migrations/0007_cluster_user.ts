/**
 * Migration 7: the Unix account a job runs as on its cluster (the identity its remote commands
 * use). NULL is the cluster's own account: every job recorded before identities existed ran as
 * it, so those rows stay readable and finish under the same account.
 */
export default `
  ALTER TABLE jobs ADD COLUMN cluster_user TEXT;
`;
