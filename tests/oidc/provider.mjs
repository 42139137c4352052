// An OpenID Connect provider for smchub's single sign-on tests: node's oidc-provider
// (a certified implementation) on loopback, with its built-in development sign-in and
// consent pages, one client (the hub under test) and a few people held in memory.
//
//   node provider.mjs <port> <client_id> <client_secret> <redirect_uri>
//
// The development pages take any password: the tests exercise the hub's side of the
// protocol, not the provider's own password checks.
import { randomBytes } from "node:crypto";

import { Provider } from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  console.error("usage: node provider.mjs <port> <client_id> <client_secret> <redirect_uri>");
  process.exit(2);
}

// what the provider knows of each person, as claims; the sign-in name is the account id
const PEOPLE = {
  // a student whose school address the provider verified
  sam: { email: "sam@example.edu", email_verified: true, groups: [] },
  // someone who typed the same address without proving it is theirs
  mallory: { email: "sam@example.edu", email_verified: false, groups: [] },
  // an instructor
  ines: { email: "ines@example.edu", email_verified: true, groups: ["teachers"] },
  // an admin, by the provider's group, not by the hub's config
  dana: { email: "dana@example.edu", email_verified: true, groups: ["smchub-admins"] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email", "email_verified"],
    groups: ["groups"],
  },
  // signs the provider's own session cookies; a new key each run
  cookies: { keys: [randomBytes(32).toString("hex")] },
  async findAccount(ctx, id) {
    const person = PEOPLE[id];
    if (!person) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, ...person };
      },
    };
  },
});

const server = provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
