// A real OpenID Connect provider for the tests: panva's oidc-provider (certified, MIT) on 127.0.0.1.
// Usage: node provider.mjs CONFIG.json, where CONFIG.json names the port, the one client (the hub)
// and the users; it prints "ready" once it listens. Its own login form (devInteractions) takes
// any password, so the tests check names, not passwords. See tests/oidc_provider.py.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const issuer = `http://127.0.0.1:${config.port}`;
const users = new Map(config.users.map((user) => [user.name, user]));

const provider = new Provider(issuer, {
  clients: [config.client],
  claims: { openid: ["sub"], email: ["email"], profile: ["preferred_username", "name"] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: [config.cookie_key] },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: user.preferred_username, email: user.email, name: id };
      },
    };
  },
  // The hub is the institution's own client: no consent screen, as a university's provider does.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(config.port, "127.0.0.1", () => console.log("ready"));
