// graphql-js's own introspection query (every option standard clients such as GraphiQL use)
// against podium's /graphql, and the schema rebuilt from the answer.
// Usage: node introspection.mjs <http-url>. Prints the number of types; exits 1 on any error.
import { buildClientSchema, getIntrospectionQuery } from "graphql";

const [url] = process.argv.slice(2);
const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
});
const response = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
  body: JSON.stringify({ query }),
});
const body = await response.json();
if (!response.ok || body.errors) {
  console.error(response.status, JSON.stringify(body.errors ?? body));
  process.exit(1);
}
const schema = buildClientSchema(body.data);
console.log(Object.keys(schema.getTypeMap()).length);
