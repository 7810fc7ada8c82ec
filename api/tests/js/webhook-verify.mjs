// Verifies webhook requests with the Standard Webhooks reference library (npm
// `standardwebhooks`), as a consumer would. Argument: a JSON file holding
// [{ "secret": "whsec_…", "headers": { "webhook-id": …, "webhook-timestamp": …,
// "webhook-signature": … }, "body": "…" }]. Prints one line of JSON: for each request,
// true when it verifies, else the library's error message.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const requests = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = requests.map(({ secret, headers, body }) => {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch (e) {
    return String(e.message ?? e);
  }
});
console.log(JSON.stringify(results));
