// Prints the introspection of a schema as graphql-js builds it, for tests/gql/generate.py:
// the generator works from this JSON rather than parsing SDL itself, so its idea of the
// schema (types, fields, arguments, defaults, directives) is the reference's.
//
//   node tests/gql/introspect.mjs SCHEMA.graphql > schema.json
import { readFileSync } from 'node:fs';
import { buildSchema, introspectionFromSchema } from 'graphql';

// What js-run.mjs asks for (importing it would run it): deprecated arguments and input
// fields included, which the generator may select too.
const OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
};

if (process.argv.length !== 3) {
  process.stderr.write('usage: introspect.mjs SCHEMA.graphql\n');
  process.exit(2);
}
const schema = buildSchema(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(introspectionFromSchema(schema, OPTIONS)) + '\n');
