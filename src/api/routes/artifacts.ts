/**
 * Artifacts: a user's named, checksummed files (uploaded as a stream), which jobs refer to.
 */
import type { Readable } from 'node:stream';
import { BridgeError } from '../../domain/errors.js';
import type { ApiContext } from '../context.js';
import { HttpError } from '../errors.js';
import { header, parseWith, sendJson } from '../http.js';
import { API_PREFIX, type Router } from '../router.js';
import type { z } from 'zod';
import { ArtifactName, ListArtifactsQuery, Sha256Header } from '../schemas.js';
import { artifactView } from '../views.js';

export function registerArtifactRoutes(r: Router, api: ApiContext): void {
  const { maxArtifact } = api.limits;
  const staging = api.staging;

  r.add(
    {
      method: 'PUT',
      path: '/artifacts/{name}',
      summary: 'Upload an artifact (streamed; X-Checksum-SHA256 is verified when given)',
      auth: true,
      body: 'binary',
      headers: { 'X-Checksum-SHA256': { schema: Sha256Header, description: 'expected SHA-256 of the body; a mismatch stores nothing' } },
      responses: { 201: 'Artifact', 400: 'bad name or checksum', 413: 'too large' },
      handler: async (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        const sumHeader = header(ctx.req, 'x-checksum-sha256');
        const sum = sumHeader === undefined ? undefined : parseWith(Sha256Header, sumHeader, 'X-Checksum-SHA256').toLowerCase();
        const declared = Number(header(ctx.req, 'content-length') ?? NaN);
        if (Number.isFinite(declared) && declared > maxArtifact) throw new HttpError('TOO_LARGE', `artifact of ${declared} bytes exceeds the limit of ${maxArtifact}`, undefined, { connection: 'close' });
        const info = await staging().putArtifact(ctx.user, name, ctx.req as Readable, { ...(sum ? { expectedSha256: sum } : {}), maxBytes: maxArtifact });
        sendJson(ctx.res, 201, artifactView(info), { location: `${API_PREFIX}/artifacts/${encodeURIComponent(name)}` });
      },
    },
    {
      method: 'GET',
      path: '/artifacts',
      summary: "The caller's artifacts by name, each with the newest jobs that staged it; paged with limit and after=<last name>",
      auth: true,
      query: ListArtifactsQuery,
      responses: { 200: '{artifacts: Artifact[]}', 400: 'bad paging parameter' },
      handler: (ctx) => {
        const q = ctx.query as z.infer<typeof ListArtifactsQuery>;
        const sorted = staging()
          .listArtifacts(ctx.user)
          .filter((a) => q.after === undefined || a.name > q.after)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const page = sorted.slice(0, q.limit ?? 1000);
        sendJson(ctx.res, 200, { artifacts: page.map((a) => ({ ...artifactView(a), usedBy: api.bridge.store.jobsUsingArtifact(ctx.user, a.sha256) })) });
      },
    },
    {
      method: 'GET',
      path: '/artifacts/{name}',
      summary: 'Describe one artifact',
      auth: true,
      responses: { 200: 'Artifact', 404: 'unknown artifact' },
      handler: (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        const a = staging().getArtifact(ctx.user, name);
        if (!a) throw new BridgeError('NOT_FOUND', `artifact "${name}" not found`, { context: { field: 'name' } });
        sendJson(ctx.res, 200, artifactView(a));
      },
    },
    {
      method: 'DELETE',
      path: '/artifacts/{name}',
      summary: 'Delete an artifact (jobs already staged keep their copy)',
      auth: true,
      responses: { 204: 'deleted', 404: 'unknown artifact' },
      handler: (ctx) => {
        const name = parseWith(ArtifactName, ctx.params.name, 'name');
        if (!staging().deleteArtifact(ctx.user, name)) throw new BridgeError('NOT_FOUND', `artifact "${name}" not found`, { context: { field: 'name' } });
        ctx.res.writeHead(204).end();
      },
    },
  );
}
