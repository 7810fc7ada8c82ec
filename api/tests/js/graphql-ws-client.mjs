// The official `graphql-ws` client as a conformance oracle for podium's /graphql/ws.
// Usage: node graphql-ws-client.mjs <ws-url> <eventId> <bib> <afterSeq>
// 1. subscribes to entryUpdates without afterSeq and prints the first message (a SNAPSHOT);
// 2. subscribes again with afterSeq and prints the first message (the replayed update).
// Prints one JSON line per message; exits 0 on success, 1 on any error.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, eventId, bib, afterSeq] = process.argv.slice(2);
const query = `subscription($id: ID!, $bib: String!, $after: Int) {
  entryUpdates(eventId: $id, bib: $bib, afterSeq: $after) { seq kind entry { lastTimingPoint } }
}`;
const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0 });

function first(variables) {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe(
      { query, variables },
      {
        next: (msg) => {
          dispose();
          if (msg.errors) reject(new Error(JSON.stringify(msg.errors)));
          else resolve(msg.data.entryUpdates);
        },
        error: (e) =>
          reject(e instanceof Error ? e : new Error(JSON.stringify({ code: e.code, reason: e.reason }))),
        complete: () => {},
      },
    );
  });
}

const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, 20000);
try {
  console.log(JSON.stringify(await first({ id: eventId, bib })));
  console.log(JSON.stringify(await first({ id: eventId, bib, after: Number(afterSeq) })));
  clearTimeout(timer);
  await client.dispose();
  process.exit(0);
} catch (e) {
  console.error(String(e));
  process.exit(1);
}
