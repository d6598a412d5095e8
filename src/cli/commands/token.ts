/**
 * `token create|list|revoke`: admin commands on the daemon's database (src/cli/local.ts).
 */
import { CommanderError, type Command } from 'commander';
import { EXIT } from '../exitCodes.js';
import { HpcBridgeError } from '../../client/index.js';
import { json, out } from '../common.js';
import { tokenStore } from '../local.js';
import { formatTable } from '../output.js';

export function registerToken(program: Command): void {
  const token = program.command('token').description("manage API tokens (admin: works on the daemon's database directly)");
  token
    .command('create')
    .description('create a token for a user; it is printed once and only its hash is kept')
    .requiredOption('--user <name>')
    .option('--label <text>', 'what the token is for')
    .option('--config <file>', 'daemon configuration (for its data directory)')
    .action(async (o: { user: string; label?: string; config?: string }) => {
      // An unset shell variable ($USER) arrives as "": refuse it here, before any database work,
      // so `X=$(hpc-bridge token create ...)` under set -e stops instead of exporting nothing.
      if (o.user.trim() === '') throw new CommanderError(EXIT.USAGE, 'hpcb.usage', '--user: must name a user (it was empty; is $USER unset?)');
      const t = await tokenStore(o.config);
      try {
        const { token: secret, info } = t.tokens.create(o.user, o.label);
        process.stderr.write(`token ${info.id} for ${info.user} (shown once; store it now):\n`);
        out(secret);
      } finally {
        t.close();
      }
    });
  token
    .command('list')
    .option('--user <name>')
    .option('--config <file>')
    .option('--json', 'JSON output')
    .action(async (o: { user?: string; config?: string; json?: boolean }) => {
      const t = await tokenStore(o.config);
      try {
        const list = t.tokens.list(o.user);
        if (o.json) return json(list);
        const d = (n: number | null) => (n === null ? '' : new Date(n).toISOString().slice(0, 19).replace('T', ' '));
        out(formatTable(['ID', 'USER', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'], list.map((x) => [x.id, x.user, x.label ?? '', d(x.createdAt), d(x.lastUsedAt), d(x.revokedAt)])));
      } finally {
        t.close();
      }
    });
  token
    .command('revoke')
    .argument('<id>', 'token id (from token list) or the token itself')
    .option('--config <file>')
    .action(async (id: string, o: { config?: string }) => {
      const t = await tokenStore(o.config);
      try {
        if (!t.tokens.revoke(id)) throw new HpcBridgeError('NOT_FOUND', `no live token with id ${id}`, 404);
        out(`revoked ${id}`);
      } finally {
        t.close();
      }
    });
}
