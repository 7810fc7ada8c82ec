// The GraphQL-over-HTTP spec's reference audit (graphql-http's auditServer) against podium.
// Usage: node graphql-http-audit.mjs <http-url>. Prints one JSON line per check:
// {"id", "name", "status": "ok" | "warn" | "error", "reason"}.
import { auditServer } from "graphql-http";

const [url] = process.argv.slice(2);
const results = await auditServer({ url });
for (const r of results) {
  console.log(JSON.stringify({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? null }));
}
