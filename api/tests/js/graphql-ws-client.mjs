// The official `graphql-ws` client as a conformance oracle for podium's /graphql/ws.
// Usage: node graphql-ws-client.mjs <ws-url> <eventId> <bib> <afterSeq>
// 1. connects, subscribes to entryUpdates without afterSeq, prints the first message (a
//    SNAPSHOT) and disconnects;
// 2. reconnects with a new client, subscribes with afterSeq and prints the first message (the
//    replayed update), as a dashboard does after losing its connection.
// Prints one JSON line per message; exits 0 on success, 1 on any error.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, eventId, bib, afterSeq] = process.argv.slice(2);
const query = `subscription($id: ID!, $bib: String!, $after: Int) {
  entryUpdates(eventId: $id, bib: $bib, afterSeq: $after) { seq kind entry { lastTimingPoint } }
}`;
async function first(variables) {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  try {
    return await firstOn(client, variables);
  } finally {
    await client.dispose();
  }
}

function firstOn(client, variables) {
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
          reject(
            e instanceof Error
              ? e
              : new Error(
                  Array.isArray(e)
                    ? JSON.stringify(e) // an `error` message: the operation's GraphQL errors
                    : JSON.stringify({ code: e.code, reason: e.reason, message: e.message, type: e.type }),
                ),
          ),
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
  process.exit(0);
} catch (e) {
  console.error(String(e));
  process.exit(1);
}
