// Apollo Client's automatic persisted queries link as the outside client of podium's /graphql.
// Usage: node apollo-persisted.mjs <http-url> <eventId>
// Asks for the same leaderboard twice with hashed GET queries: the first time podium does not
// know the hash (PERSISTED_QUERY_NOT_FOUND) and the link sends the text once; the second time
// the hash alone is enough. Prints one JSON line: the answers and every HTTP request made.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const [url, eventId] = process.argv.slice(2);
const requests = [];
const fetchLogged = async (uri, options) => {
  const response = await fetch(uri, options);
  const copy = response.clone();
  const text = await copy.text();
  requests.push({
    method: options.method ?? "GET",
    url: String(uri),
    sentQuery: String(options.body ?? uri).includes("leaderboard"),
    status: response.status,
    body: text.slice(0, 300),
  });
  return response;
};
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
  new HttpLink({ uri: url, fetch: fetchLogged }),
);
const client = new ApolloClient({ cache: new InMemoryCache(), link });
const query = gql`
  query Board($id: ID!) {
    leaderboard(eventId: $id, first: 5) {
      seq
      edges { node { bib rank } }
    }
  }
`;
try {
  const answers = [];
  for (let i = 0; i < 2; i++) {
    const { data } = await client.query({
      query,
      variables: { id: eventId },
      fetchPolicy: "network-only",
    });
    answers.push(data);
  }
  console.log(JSON.stringify({ answers, requests }));
} catch (e) {
  console.error(String(e?.stack ?? e), JSON.stringify(requests));
  process.exit(1);
}
