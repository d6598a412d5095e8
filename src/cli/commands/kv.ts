/**
 * `kv set|get|list|delete`: the caller's key-value store, the same one jobs reach from inside
 * (README, "Key-value store").
 */
import { Command, CommanderError } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { clientFrom, json, out } from '../common.js';
import { EXIT } from '../exitCodes.js';
import { formatTable } from '../output.js';

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export function registerKv(program: Command): void {
  const kv = program.command('kv').description('your key-value store (shared with your jobs)');

  kv.command('set')
    .description('store a value: the argument, --file, or stdin when neither is given')
    .argument('<key>')
    .argument('[value]')
    .option('--file <path>', 'the value is this file')
    .option('--prev <value>', 'only if the key holds exactly this value now (compare-and-swap)')
    .option('--json', 'JSON output')
    .action(async (key: string, value: string | undefined, o: { file?: string; prev?: string; json?: boolean }, cmd: Command) => {
      if (value !== undefined && o.file !== undefined) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'give the value or --file, not both');
      const bytes = value !== undefined ? Buffer.from(value, 'utf8') : o.file !== undefined ? await readFile(o.file) : await readStdin();
      const w = await clientFrom(cmd).kv.set(key, bytes, o.prev !== undefined ? { prev: o.prev } : {});
      if (o.json) json(w);
      else out(`${w.key}  ${w.size} bytes`);
    });

  kv.command('get')
    .description('print a value (its bytes, unchanged)')
    .argument('<key>')
    .option('--output <path>', 'write the value to this file instead')
    .action(async (key: string, o: { output?: string }, cmd: Command) => {
      const v = await clientFrom(cmd).kv.get(key);
      if (o.output !== undefined) await writeFile(o.output, v);
      else process.stdout.write(v);
    });

  kv.command('list')
    .description('list your keys, optionally those starting with a prefix')
    .argument('[prefix]')
    .option('--values', 'include the values (JSON output)')
    .option('--json', 'JSON output')
    .action(async (prefix: string | undefined, o: { values?: boolean; json?: boolean }, cmd: Command) => {
      const store = clientFrom(cmd).kv;
      const opts = prefix !== undefined ? { prefix, limit: 10000 } : { limit: 10000 };
      if (o.values) return json(await store.entries(opts));
      const keys = await store.list(opts);
      if (o.json) return json(keys);
      out(formatTable(['KEY', 'SIZE', 'UPDATED'], keys.map((k) => [k.key, String(k.size), k.updatedAt])));
    });

  kv.command('delete')
    .description('delete a key, or with --prefix every key starting with it')
    .argument('[key]')
    .option('--prefix <prefix>', 'delete every key that starts with this')
    .action(async (key: string | undefined, o: { prefix?: string }, cmd: Command) => {
      if ((key === undefined) === (o.prefix === undefined)) throw new CommanderError(EXIT.USAGE, 'hpcb.usage', 'give a key or --prefix (one of them)');
      const store = clientFrom(cmd).kv;
      if (o.prefix !== undefined) out(`deleted ${await store.deletePrefix(o.prefix)} keys`);
      else {
        await store.delete(key!);
        out(`deleted ${key}`);
      }
    });
}
