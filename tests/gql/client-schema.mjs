// What GraphiQL and graphql-codegen do with a server's introspection: build a client schema
// from it (graphql-js buildClientSchema, which refuses an incomplete or inconsistent answer),
// check it (validateSchema), and print it. Reads the introspection response (JSON) on stdin
// and the SDL files named on the command line; prints "same" when the client schema prints
// exactly as the SDL does, else both printed schemas, and exits 1.
//   node tests/gql/client-schema.mjs schema/*.graphql < response.json
import { readFileSync } from 'node:fs';
import { buildClientSchema, buildSchema, printSchema, validateSchema } from 'graphql';

const response = JSON.parse(readFileSync(0, 'utf8'));
if (response.errors || !response.data) {
  console.log('introspection answered with errors: ' + JSON.stringify(response.errors));
  process.exit(1);
}
const client = buildClientSchema(response.data);
const problems = validateSchema(client);
if (problems.length) {
  console.log('the client schema is not valid: ' + problems.map((e) => e.message).join('; '));
  process.exit(1);
}
const sdl = process.argv.slice(2).map((f) => readFileSync(f, 'utf8')).join('\n');
const served = printSchema(client);
const source = printSchema(buildSchema(sdl));
if (served === source) {
  console.log('same');
} else {
  console.log('--- from introspection\n' + served + '\n--- from the SDL\n' + source);
  process.exit(1);
}
