// The reference side of the GraphQL differential suite: graphql-js with its default field and
// type resolvers, fed the same requests as slipway's tests/tools/gql-run.c.
//
//   node tests/gql/js-run.mjs SCHEMA.graphql < requests.jsonl
//   node tests/gql/js-run.mjs --introspection-query    (prints the query GraphiQL sends)
//
// Each input line is {"data": <root value>, "query": "...", "variables": {...},
// "operationName": "..."}; each output line is the response: {"errors": [...]} when the
// document does not parse or validate (every rule of specifiedRules), else what execute()
// returns with rootValue = data, as {"data": ..., "errors": [...]}; a subscription gets a
// request error (see answer()).
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  buildSchema,
  execute,
  getOperationAST,
  getIntrospectionQuery,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
} from 'graphql';

// Every option on: what GraphiQL asks for when it loads a schema.
export const INTROSPECTION_OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
};

// Orders the response members as slipway writes them; "data" only when execution started.
function response(result) {
  const out = {};
  if ('data' in result) out.data = result.data;
  if (result.errors && result.errors.length > 0)
    out.errors = result.errors.map((e) => e.toJSON());
  return out;
}

function answer(schema, req) {
  let doc;
  try {
    doc = parse(req.query ?? '');
  } catch (e) {
    if (e instanceof GraphQLError) return { errors: [e.toJSON()] };
    throw e;
  }
  const errors = validate(schema, doc, specifiedRules);
  if (errors.length > 0) return { errors: errors.map((e) => e.toJSON()) };
  // A subscription answers with a stream of responses (spec 6.2.3), which graphql-js's
  // execute() does not do: it would run the operation as a query. slipway's gql_execute()
  // refuses it with a request error, and so does this runner.
  const op = getOperationAST(doc, req.operationName ?? undefined);
  if (op?.operation === 'subscription') {
    const e = new GraphQLError('a subscription is not executed as a single response', op);
    return { errors: [e.toJSON()] };
  }
  const result = execute({
    schema,
    document: doc,
    rootValue: req.data,
    variableValues: req.variables ?? undefined,
    operationName: req.operationName ?? undefined,
  });
  if (typeof result.then === 'function') throw new Error('execution went asynchronous');
  return response(result);
}

async function main(argv) {
  if (argv[0] === '--introspection-query') {
    process.stdout.write(getIntrospectionQuery(INTROSPECTION_OPTIONS) + '\n');
    return 0;
  }
  if (argv.length !== 1) {
    process.stderr.write('usage: js-run.mjs SCHEMA.graphql < requests.jsonl\n');
    return 2;
  }
  const schema = buildSchema(readFileSync(argv[0], 'utf8'));
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    process.stdout.write(JSON.stringify(answer(schema, JSON.parse(line))) + '\n');
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
