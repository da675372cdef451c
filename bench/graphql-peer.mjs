// The graphql-js side of bench/graphql.sh: GraphQL over HTTP with node's http module and
// graphql-js, on the same SDL as slipway (schema/*.graphql), with resolvers that answer the
// same data from memory.
//
//   node bench/graphql-peer.mjs --port N [--workers N] [--data FILE] SCHEMA.graphql...
//
// --data names a JSON file {"token": …, "user": {id, name, email, avatarUrl, workspaces:
// [{workspace, role}]}, "workspaces": [{id, name, personal, suspended, createdAt}]}: what
// slipway answered for the same user (bench/graphql.sh writes it). Query.me, User.workspaces,
// Query.workspace (the first, personal, workspace), Query.workspaces answer from it;
// apiTokens and auditLog answer empty lists; members and invitations empty too.
//
// What it does per request, and no more: reads the body, JSON.parse, looks the document up
// in a Map by its text (parsed and validated once per text, as slipway keeps prepared
// documents in a per-loop cache), compares the Authorization header with "Bearer <token>"
// as a string (no signature, no session, no membership: a plain string comparison), runs
// graphql-js execute() and JSON.stringify()s the result. Without --data every request is
// accepted, as an introspection-only server.
//
// POST /graphql with an application/json body {"query", "variables", "operationName"} answers
// 200 application/json; a wrong or missing token 401 with an UNAUTHENTICATED error; anything
// else 404/405/400. --workers 1 (the default) serves from this one process, node's http module
// alone; --workers N > 1 starts N processes with node:cluster sharing the port. Prints
// {"ev":"peer.started","port":N,"workers":N} on stdout once it listens; SIGTERM or SIGINT
// stops it (and its workers).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { buildSchema, execute, parse, specifiedRules, validate } from 'graphql';

const MAX_BODY = 1 << 20;
const MAX_CACHED = 1000;

function options(argv) {
  const o = { port: 0, workers: 1, data: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') o.port = Number(argv[++i]);
    else if (argv[i] === '--workers') o.workers = Number(argv[++i]);
    else if (argv[i] === '--data') o.data = argv[++i];
    else o.files.push(argv[i]);
  }
  if (!Number.isInteger(o.port) || o.port <= 0 || o.files.length === 0 ||
      !Number.isInteger(o.workers) || o.workers < 1)
    throw new Error('usage: graphql-peer.mjs --port N [--workers N] [--data FILE] SCHEMA.graphql...');
  return o;
}

// The resolvers, on the data slipway answered for the same user. graphql-js's default
// resolver reads the plain objects' properties (WorkspaceMembership, Workspace's scalars).
function rootValue(data) {
  const user = { ...data.user, workspaces: () => data.user.workspaces };
  const workspaces = data.workspaces.map((w) => ({ ...w, members: () => [], invitations: () => [] }));
  return {
    me: () => user,
    workspace: () => workspaces[0],
    workspaces: () => workspaces,
    apiTokens: () => [],
    auditLog: () => [],
  };
}

// One prepared document per query text: {document} or {errors} when it does not parse or
// validate. Dropped wholesale when full, which the benchmark's few queries never reach.
function preparer(schema) {
  const cache = new Map();
  return (text) => {
    let p = cache.get(text);
    if (p !== undefined) return p;
    try {
      const document = parse(text);
      const errors = validate(schema, document, specifiedRules);
      p = errors.length > 0 ? { errors } : { document };
    } catch (e) {
      p = { errors: [e] };
    }
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(text, p);
    return p;
  };
}

function reply(res, status, body) {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

const UNAUTHENTICATED = JSON.stringify({
  errors: [{ message: 'authentication required', extensions: { code: 'UNAUTHENTICATED' } }],
});

function answer(ctx, authorization, body) {
  let req;
  try {
    req = JSON.parse(body);
  } catch {
    return [400, JSON.stringify({ errors: [{ message: 'the body is not JSON' }] })];
  }
  if (typeof req?.query !== 'string')
    return [400, JSON.stringify({ errors: [{ message: 'no query' }] })];
  if (ctx.bearer !== null && authorization !== ctx.bearer) return [401, UNAUTHENTICATED];
  const p = ctx.prepare(req.query);
  if (p.errors) return [200, JSON.stringify({ errors: p.errors })];
  const result = execute({
    schema: ctx.schema,
    document: p.document,
    rootValue: ctx.root,
    variableValues: req.variables ?? undefined,
    operationName: req.operationName ?? undefined,
  });
  return [200, JSON.stringify(result)];
}

function serve(o) {
  const schema = buildSchema(o.files.map((f) => readFileSync(f, 'utf8')).join('\n'));
  const data = o.data ? JSON.parse(readFileSync(o.data, 'utf8')) : null;
  const ctx = {
    schema,
    prepare: preparer(schema),
    root: data ? rootValue(data) : undefined,
    bearer: data ? `Bearer ${data.token}` : null,
  };
  const server = http.createServer((req, res) => {
    if (req.url !== '/graphql') return reply(res, 404, '{"error":"not found"}');
    if (req.method !== 'POST') return reply(res, 405, '{"error":"POST only"}');
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return reply(res, 413, '{"error":"body too large"}');
      const [status, body] = answer(ctx, req.headers.authorization,
                                    Buffer.concat(chunks).toString('utf8'));
      reply(res, status, body);
    });
  });
  server.keepAliveTimeout = 60000;
  return server;
}

function single(o) {
  const server = serve(o);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  server.listen(o.port, '127.0.0.1', () =>
    console.log(JSON.stringify({ ev: 'peer.started', port: o.port, workers: 1 })));
}

function primary(o) {
  let listening = 0;
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', (w, code, signal) => {
    process.stderr.write(`graphql-peer: worker ${w.process.pid} exited (${code ?? signal})\n`);
    stop();
  });
  for (let i = 0; i < o.workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'listening' && ++listening === o.workers)
        console.log(JSON.stringify({ ev: 'peer.started', port: o.port, workers: o.workers }));
    });
  }
}

const o = options(process.argv.slice(2));
if (o.workers === 1) single(o);
else if (cluster.isPrimary) primary(o);
else serve(o).listen(o.port, '127.0.0.1', () => process.send('listening'));
