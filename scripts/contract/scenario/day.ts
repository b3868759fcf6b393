// An operator's day with the Cleanmail API, written with the generated
// TypeScript client: it sets up a broker, a customer and its domains,
// their users, aliases, rules and administrators, reads, lists (with
// filters, sorts and pages), changes and deletes them, and checks what
// the server answers. It calls every delivered operation (run.ts checks
// that), through the validating proxy when CLEANMAIL_CONTRACT_URL points
// at one; the spreadsheet exports go to the server directly
// (CLEANMAIL_SERVER_URL), since the proxy rewrites binary bodies.
//
// It must compile under tsc --strict with no non-null assertion and no
// cast (check-escapes.mjs enforces both): the types are the contract's,
// and a field the contract leaves optional cannot be used as present.
import { connect, connectSpreadsheets, type Spreadsheets, XLSX, done, fails, ok, page, type Record } from "../client/cleanmail.js";
import { eq, first, one, pluck, sortedStrings, that } from "./check.js";

export interface Endpoints {
  /** Where the JSON calls go: the proxy, or the server itself. */
  api: string;
  /** The server itself, for the binary exports. */
  server: string;
  /** The sysadmin's personal token. */
  token: string;
  /** The server's embedded SMTP server (host:port), a relay to check. */
  smtp: string;
}

/** One run of the day; throws at an unexpected status. */
export async function day(at: Endpoints, rec: Record): Promise<void> {
  const anyone = connect(at.api, undefined, rec);
  const sys = connect(at.api, at.token, rec);

  // ── Before the day starts: the probes of the service. ────────────────
  eq((await ok(anyone.GET("/livez"))).status, "ok", "livez");
  eq((await ok(anyone.GET("/readyz"))).status, "ready", "readyz");

  // ── The option catalog, and the platform's own values. ──────────────
  const defs = await page(sys.GET("/options", { params: { query: { scope: "DOMAIN", sort: "-name", pageSize: 5 } } }));
  eq(defs.items.length, 5, "first page of domain options");
  that(defs.total > 5, `domain options: total ${defs.total}, want more than a page`);
  eq(pluck(defs.items, "name"), sortedStrings(pluck(defs.items, "name"), true), "domain options sorted by -name");
  that(
    defs.items.every((d) => d.domainScope),
    "every option listed for scope=DOMAIN can be set on a domain",
  );
  const reports = await page(sys.GET("/options", { params: { query: { name: "QUARANTINE_REPORT_*" } } }));
  eq(sortedStrings(pluck(reports.items, "name")), ["QUARANTINE_REPORT_FOOTER", "QUARANTINE_REPORT_FREQUENCY", "QUARANTINE_REPORT_MAX_ENTRIES"], "options named QUARANTINE_REPORT_*");
  const frequency = one(reports.items, (d) => d.name === "QUARANTINE_REPORT_FREQUENCY", "QUARANTINE_REPORT_FREQUENCY");
  eq(frequency.type, "LIST", "QUARANTINE_REPORT_FREQUENCY type");
  eq(frequency.values, ["NEVER", "DAILY", "WEEKLY"], "QUARANTINE_REPORT_FREQUENCY values");

  const appUrl = await ok(sys.POST("/options/platform", { body: { name: "APP_URL", value: "app.cleanmail.example" } }), 201);
  eq(appUrl.value, "app.cleanmail.example", "platform APP_URL, first value");
  const appUrlAgain = await ok(sys.POST("/options/platform", { body: { name: "APP_URL", value: "portal.cleanmail.example" } }), 200);
  eq(appUrlAgain.value, "portal.cleanmail.example", "platform APP_URL, replaced");
  await ok(sys.POST("/options/platform", { body: { name: "QUARANTINE_REPORT_FREQUENCY", value: "WEEKLY" } }), 201);
  const platformOptions = await page(sys.GET("/options/platform"));
  eq(one(platformOptions.items, (o) => o.option.name === "APP_URL", "platform APP_URL").value, "portal.cleanmail.example", "platform options: APP_URL");
  const appUrlRead = await ok(sys.GET("/options/platform/{optionName}", { params: { path: { optionName: "APP_URL" } } }));
  eq(appUrlRead.value, "portal.cleanmail.example", "platform APP_URL read alone (its Location)");

  // ── A broker, a customer, an outgoing provider. ─────────────────────
  const broker = await ok(sys.POST("/brokers", { body: { name: "westeros networks", description: "Resells Cleanmail in the Seven Kingdoms", externalId: "BRK-7" } }), 201);
  eq(broker.name, "westeros networks", "broker name");
  eq(broker.externalId, "BRK-7", "broker externalId");
  eq(await ok(sys.GET("/brokers/{brokerId}", { params: { path: { brokerId: broker.id } } })), broker, "GET broker");
  await ok(sys.POST("/brokers", { body: { name: "essos networks" } }), 201);
  const brokers = await page(sys.GET("/brokers", { params: { query: { name: "westeros*" } } }));
  eq(pluck(brokers.items, "id"), [broker.id], "brokers named westeros*");
  eq(brokers.total, 1, "brokers named westeros*: total");

  const customer = await ok(sys.POST("/customers", { body: { brokerId: broker.id, name: "stark industries", externalId: "CRM-0042" } }), 201);
  eq(customer.brokerId, broker.id, "customer brokerId");
  eq(customer.description, null, "customer without a description");
  eq(await ok(sys.GET("/customers/{customerId}", { params: { path: { customerId: customer.id } } })), customer, "GET customer");
  const rivals = await ok(sys.POST("/customers", { body: { name: "lannister holdings" } }), 201);
  eq((await page(sys.GET("/customers", { params: { query: { brokerId: broker.id } } }))).items, [customer], "customers of the broker");
  eq(pluck((await page(sys.GET("/customers", { params: { query: { externalId: "CRM-0042" } } }))).items, "id"), [customer.id], "customer by externalId");
  const customersDesc = await page(sys.GET("/customers", { params: { query: { sort: "-name", pageSize: 1 } } }));
  eq(pluck(customersDesc.items, "id"), [customer.id], "first customer by -name");
  eq(customersDesc.total, 2, "customers: total");

  await ok(sys.POST("/customers/{customerId}/options", { params: { path: { customerId: customer.id } }, body: { name: "SUPPORT_URL", value: "https://support.stark.example" } }), 201);
  const customerOptions = await page(sys.GET("/customers/{customerId}/options", { params: { path: { customerId: customer.id } } }));
  const support = one(customerOptions.items, (o) => o.option.name === "SUPPORT_URL", "customer SUPPORT_URL");
  eq(support.value, "https://support.stark.example", "customer SUPPORT_URL value");
  const supportRead = await ok(sys.GET("/customers/{customerId}/options/{optionName}", { params: { path: { customerId: customer.id, optionName: "SUPPORT_URL" } } }));
  eq(supportRead.value, "https://support.stark.example", "customer SUPPORT_URL read alone (its Location)");
  const weekly = one(customerOptions.items, (o) => o.option.name === "QUARANTINE_REPORT_FREQUENCY", "customer QUARANTINE_REPORT_FREQUENCY");
  eq([weekly.value, weekly.parentValue], [null, "WEEKLY"], "customer inherits the platform's report frequency");

  const provider = await ok(sys.POST("/outgoing-providers", { body: { name: "raven relay", spfProvider: "_spf.raven-relay.example" } }), 201);
  eq(provider.active, true, "outgoing provider active by default");
  eq(await ok(sys.GET("/outgoing-providers/{outgoingProviderId}", { params: { path: { outgoingProviderId: provider.id } } })), provider, "GET outgoing provider");
  eq(pluck((await page(sys.GET("/outgoing-providers", { params: { query: { name: "raven*" } } }))).items, "id"), [provider.id], "providers named raven*");

  // ── Domains: one for each customer. ─────────────────────────────────
  const stark = await ok(
    sys.POST("/domains", {
      body: {
        name: "stark.example",
        description: "The North",
        status: "ENABLED",
        quarantine: true,
        retention: false,
        archive: false,
        defaultLanguage: "EN",
        customerId: customer.id,
        externalId: "DOM-1",
        outgoingSubnets: ["192.0.2.0/24"],
        outgoingProvidersIds: [provider.id],
        platforms: [{ name: "winterfell relay", transportDest: "mx.stark.example", transportType: "SMTP", transportPort: 25 }],
      },
    }),
    201,
  );
  eq(stark.name, "stark.example", "domain name");
  eq(stark.status, "ENABLED", "domain status");
  eq(stark.policy.name, "Politique-stark.example", "domain's default policy");
  // A domain may have no customer, a user no platform: those two may be null.
  eq(stark.customer?.id, customer.id, "domain's customer");
  eq(pluck(stark.outgoingProviders, "id"), [provider.id], "domain's outgoing providers");
  eq(stark.outgoingSubnets, ["192.0.2.0/24"], "domain's outgoing subnets");
  eq([stark.quarantine, stark.retention, stark.archive], [true, false, false], "domain's services");
  eq(stark.deletionDate, null, "a live domain has no deletion date");
  const relay = first(stark.platforms, "domain's platforms");
  eq([relay.name, relay.transportDest, relay.transportPort, relay.default], ["winterfell relay", "mx.stark.example", 25, true], "domain's platform");

  const lannister = await ok(
    sys.POST("/domains", {
      body: { name: "lannister.example", status: "ENABLED", quarantine: false, retention: true, archive: false, defaultLanguage: "FR", customerId: rivals.id },
    }),
    201,
  );
  eq(await ok(sys.GET("/domains/{domainId}", { params: { path: { domainId: stark.id } } })), stark, "GET domain");
  eq(pluck((await page(sys.GET("/domains", { params: { query: { customerId: customer.id } } }))).items, "id"), [stark.id], "domains of the customer");
  const domainsPage = await page(sys.GET("/domains", { params: { query: { name: "*.example", sort: "-name", offset: 1, pageSize: 1 } } }));
  eq(pluck(domainsPage.items, "name"), ["lannister.example"], "second domain by -name");
  eq(domainsPage.total, 2, "domains named *.example: total");
  eq(pluck((await page(sys.GET("/domains", { params: { query: { externalId: "DOM-1" } } }))).items, "id"), [stark.id], "domain by externalId");
  eq(pluck((await page(sys.GET("/domains", { params: { query: { platformId: relay.id } } }))).items, "id"), [stark.id], "domain by platformId");
  eq(pluck((await page(sys.GET("/domains", { params: { query: { platformName: "winterfell*" } } }))).items, "id"), [stark.id], "domain by platformName");
  eq((await page(sys.GET("/domains", { params: { query: { status: "ENABLED" } } }))).total, 2, "enabled domains");

  // PATCH: a value, then null to clear it; the MX check skipped.
  await done(sys.PATCH("/domains/{domainId}", { params: { path: { domainId: stark.id }, header: { "X-Ignore-MX": "true" } }, body: { wblistPriority: "DOMAIN", description: null, externalId: "DOM-1b" } }));
  const starkNow = await ok(sys.GET("/domains/{domainId}", { params: { path: { domainId: stark.id } } }));
  // Its DNS diagnostic: none yet, then one (the contract's resolver answers
  // nothing, so every entry says the resolver did not answer).
  await fails(sys.GET("/domains/{domainId}/health", { params: { path: { domainId: stark.id } } }), 404);
  const diagnostic = await ok(sys.POST("/domains/{domainId}/health", { params: { path: { domainId: stark.id } } }), 201);
  eq(diagnostic.report.status, false, "no MX known: not healthy");
  eq((await ok(sys.GET("/domains/{domainId}/health", { params: { path: { domainId: stark.id } } }))).performedAt, diagnostic.performedAt, "the last diagnostic");
  eq([starkNow.wblistPriority, starkNow.description, starkNow.externalId], ["DOMAIN", null, "DOM-1b"], "domain after PATCH");

  // The relay: a fallback, then none.
  await done(sys.PATCH("/platforms/{platformId}", { params: { path: { platformId: relay.id } }, body: { fallbackTransportDest: "mx2.stark.example", fallbackTransportType: "SMTP", fallbackTransportPort: 2525 } }));
  const withFallback = await ok(sys.GET("/platforms/{platformId}", { params: { path: { platformId: relay.id } } }));
  eq([withFallback.fallbackTransportDest, withFallback.fallbackTransportType, withFallback.fallbackTransportPort], ["mx2.stark.example", "SMTP", 2525], "platform fallback");
  await done(sys.PATCH("/platforms/{platformId}", { params: { path: { platformId: relay.id } }, body: { fallbackTransportDest: null, fallbackTransportType: null, fallbackTransportPort: null } }));
  const noFallback = await ok(sys.GET("/platforms/{platformId}", { params: { path: { platformId: relay.id } } }));
  eq([noFallback.fallbackTransportDest, noFallback.fallbackTransportType, noFallback.fallbackTransportPort], [null, null, null], "platform fallback cleared");

  // ── Domain aliases. ──────────────────────────────────────────────────
  const added = await ok(sys.POST("/domains/{domainId}/aliases", { params: { path: { domainId: stark.id } }, body: ["winterfell.example"] }), 201);
  eq(pluck(added, "name"), ["winterfell.example"], "alias added");
  await done(sys.PUT("/domains/{domainId}/aliases", { params: { path: { domainId: stark.id } }, body: ["winterfell.example", "north.example", "wall.example"] }));
  const aliases = await page(sys.GET("/domains/{domainId}/aliases", { params: { path: { domainId: stark.id }, query: { sort: "-name", pageSize: 2 } } }));
  eq(pluck(aliases.items, "name"), ["winterfell.example", "wall.example"], "aliases by -name, first page");
  eq(aliases.total, 3, "aliases: total");
  // The page after, where the first page's Link points (an extension:
  // keyset continuation), through the proxy, which checks the cursor.
  if (aliases.next === null) throw new Error("aliases by -name: no Link to their second page");
  const nextQuery = aliases.next.searchParams;
  eq(
    [aliases.next.pathname, nextQuery.get("sort"), nextQuery.get("pageSize"), nextQuery.has("offset")],
    [`/domains/${stark.id}/aliases`, "-name", "2", false],
    "the aliases' Link: the same list, sort and page size, without offset",
  );
  const afterLink = await page(
    sys.GET("/domains/{domainId}/aliases", { params: { path: { domainId: stark.id }, query: { sort: "-name", pageSize: 2, cursor: nextQuery.get("cursor") ?? "" } } }),
  );
  eq(pluck(afterLink.items, "name"), ["north.example"], "aliases by -name, the page its Link names");
  eq([afterLink.total, afterLink.next], [3, null], "the aliases' last page: the same total, and no Link");
  eq(one(aliases.items, (a) => a.name === "winterfell.example", "winterfell alias").id, first(added, "alias added").id, "an alias kept by PUT keeps its id");
  const wall = one(aliases.items, (a) => a.name === "wall.example", "wall alias");
  await done(sys.DELETE("/domains/{domainId}/aliases/{aliasId}", { params: { path: { domainId: stark.id, aliasId: wall.id } } }));
  eq(pluck((await ok(sys.GET("/domains/{domainId}", { params: { path: { domainId: stark.id } } }))).domainAliases, "name").sort(), ["north.example", "winterfell.example"], "domain's aliases");

  // ── Policies. ────────────────────────────────────────────────────────
  const strict = await ok(
    sys.POST("/domains/{domainId}/policies", {
      params: { path: { domainId: stark.id } },
      body: { name: "strict", quarantine: true, retention: true, incoming: true, spamScore: 3.5, retentionProps: { duration: 90, storeMailOut: true, storeCleanMailIn: true } },
    }),
    201,
  );
  eq([strict.name, strict.domainId, strict.spamScore], ["strict", stark.id, 3.5], "policy created");
  eq(await ok(sys.GET("/policies/{policyId}", { params: { path: { policyId: strict.id } } })), strict, "GET policy");
  const policies = await page(sys.GET("/domains/{domainId}/policies", { params: { path: { domainId: stark.id }, query: { sort: "name" } } }));
  eq(pluck(policies.items, "name"), ["Politique-stark.example", "strict"], "policies by name");
  await done(sys.PATCH("/policies/{policyId}", { params: { path: { policyId: strict.id } }, body: { mailSizeLimit: 30, retention: false } }));
  const strictNow = await ok(sys.GET("/policies/{policyId}", { params: { path: { policyId: strict.id } } }));
  eq([strictNow.mailSizeLimit, strictNow.retention, strictNow.retentionProps], [30, false, null], "policy after PATCH: no retention, no retention settings");

  // ── Domain options and end users' access. ───────────────────────────
  const daily = await ok(sys.POST("/domains/{domainId}/options", { params: { path: { domainId: stark.id } }, body: { name: "QUARANTINE_REPORT_FREQUENCY", value: "DAILY" } }), 201);
  eq([daily.value, daily.parentValue], ["DAILY", "WEEKLY"], "domain report frequency over the platform's");
  await ok(sys.POST("/domains/{domainId}/options", { params: { path: { domainId: stark.id } }, body: { name: "UI_COLOR", value: "#445566" } }), 201);
  const domainOptions = await page(sys.GET("/domains/{domainId}/options", { params: { path: { domainId: stark.id } } }));
  eq(one(domainOptions.items, (o) => o.option.name === "UI_COLOR", "domain UI_COLOR").value, "#445566", "domain UI_COLOR");
  const colorRead = await ok(sys.GET("/domains/{domainId}/options/{optionName}", { params: { path: { domainId: stark.id, optionName: "UI_COLOR" } } }));
  eq([colorRead.option.name, colorRead.value], ["UI_COLOR", "#445566"], "domain UI_COLOR read alone (its Location)");
  await done(sys.DELETE("/domains/{domainId}/options/{optionName}", { params: { path: { domainId: stark.id, optionName: "UI_COLOR" } } }));
  const afterDelete = await page(sys.GET("/domains/{domainId}/options", { params: { path: { domainId: stark.id } } }));
  eq(one(afterDelete.items, (o) => o.option.name === "UI_COLOR", "domain UI_COLOR").value, null, "domain UI_COLOR deleted");

  // ── DKIM keys: generated under the domain's DKIM_SELECTOR, one record
  // for the domain and each alias; replaced by a given key; deleted. ────
  const dkimPath = { params: { path: { domainId: stark.id } } };
  await fails(sys.GET("/domains/{domainId}/dkim", dkimPath), 404);
  await ok(sys.POST("/domains/{domainId}/options", { params: { path: { domainId: stark.id } }, body: { name: "DKIM_SELECTOR", value: "protect" } }), 201);
  const generated = await ok(sys.POST("/domains/{domainId}/dkim", { ...dkimPath, body: { algorithm: "ED25519" } }), 201);
  eq(generated.map((r) => r.split(" TXT ")[0]), ["protect._domainkey.stark.example", "protect._domainkey.north.example", "protect._domainkey.winterfell.example"], "DKIM records: the domain, then its aliases");
  that(generated.every((r) => r.includes(" TXT v=DKIM1; k=ed25519; p=")), "Ed25519 DKIM records");
  eq(await ok(sys.GET("/domains/{domainId}/dkim", dkimPath)), generated, "DKIM records read");
  await fails(sys.POST("/domains/{domainId}/dkim", dkimPath), 409);
  const dkimReplaced = await ok(
    sys.PUT("/domains/{domainId}/dkim", {
      ...dkimPath,
      body: {
        privateKey: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFWR1ol4RJjTL3kO3pfNcSO4C3RXTBde3w8V/0wp63c7\n-----END PRIVATE KEY-----\n",
        selector: "s2026",
      },
    }),
  );
  eq(first(dkimReplaced, "DKIM record").split("; p=")[0], "s2026._domainkey.stark.example TXT v=DKIM1; k=ed25519", "DKIM key replaced");
  await done(sys.DELETE("/domains/{domainId}/dkim", dkimPath));
  await fails(sys.GET("/domains/{domainId}/dkim", dkimPath), 404);

  const access = await page(sys.GET("/domains/{domainId}/access", { params: { path: { domainId: stark.id } } }));
  eq(
    sortedStrings(access.items.filter((p) => p.enabled).map((p) => p.name)),
    ["FILTER_EDIT", "FILTER_READ", "QUARANTINE_READ", "QUARANTINE_RELEASE", "USER_READ"],
    "end users' default permissions",
  );
  const narrowed = await ok(sys.PUT("/domains/{domainId}/access", { params: { path: { domainId: stark.id } }, body: ["USER_READ", "FILTER_READ", "FILTER_EDIT"] }));
  eq(narrowed.id, stark.id, "end users' access: the domain");
  eq(
    sortedStrings(narrowed.permissions.filter((p) => p.enabled).map((p) => p.name)),
    ["FILTER_EDIT", "FILTER_READ", "USER_READ"],
    "end users' permissions after PUT",
  );

  // ── Users (mailboxes). ───────────────────────────────────────────────
  const arya = await ok(sys.POST("/users", { body: { email: "arya@stark.example", status: "ENABLED", domainId: stark.id, firstname: "Arya", lastname: "Stark", language: "EN" } }), 201);
  eq([arya.email, arya.domainId, arya.status, arya.language], ["arya@stark.example", stark.id, "ENABLED", "EN"], "user created");
  eq(arya.policy.id, stark.policy.id, "user on the domain's default policy");
  eq(arya.platform?.id, relay.id, "user on the domain's platform");
  const sansa = await ok(sys.POST("/users", { body: { email: "sansa@stark.example", status: "PENDING", domainId: stark.id, firstname: "Sansa", policyId: strict.id } }), 201);
  eq(sansa.policy.id, strict.id, "user on another policy");
  await ok(sys.POST("/users", { body: { email: "tyrion@lannister.example", status: "ENABLED", domainId: lannister.id } }), 201);
  eq(await ok(sys.GET("/users/{userId}", { params: { path: { userId: arya.id } } })), arya, "GET user");
  const starks = await page(sys.GET("/users", { params: { query: { email: "*@stark.example", sort: "-email" } } }));
  eq(pluck(starks.items, "email"), ["sansa@stark.example", "arya@stark.example"], "users *@stark.example by -email");
  const domainUsers = await page(sys.GET("/domains/{domainId}/users", { params: { path: { domainId: stark.id }, query: { pageSize: 1, offset: 1 } } }));
  eq(pluck(domainUsers.items, "email"), ["sansa@stark.example"], "domain users, second page");
  eq(domainUsers.total, 2, "domain users: total");
  eq((await page(sys.GET("/domains/{domainId}/users", { params: { path: { domainId: stark.id }, query: { platformName: "winterfell*" } } }))).total, 2, "domain users by platform");
  eq((await page(sys.GET("/users", { params: { query: { platformName: "nowhere*" } } }))).total, 0, "users of no platform");
  await done(sys.PATCH("/users/{userId}", { params: { path: { userId: sansa.id } }, body: { status: "ENABLED", lastname: "Stark", mfaType: "TOTP" } }));
  const sansaNow = await ok(sys.GET("/users/{userId}", { params: { path: { userId: sansa.id } } }));
  eq([sansaNow.status, sansaNow.lastname, sansaNow.mfaType], ["ENABLED", "Stark", "TOTP"], "user after PATCH");

  await ok(sys.POST("/users/{userId}/options", { params: { path: { userId: arya.id } }, body: { name: "TIMEZONE", value: "Europe/Paris" } }), 201);
  const userOptions = await page(sys.GET("/users/{userId}/options", { params: { path: { userId: arya.id } } }));
  const tz = one(userOptions.items, (o) => o.option.name === "TIMEZONE", "user TIMEZONE");
  eq(tz.value, "Europe/Paris", "user TIMEZONE");
  const tzRead = await ok(sys.GET("/users/{userId}/options/{optionName}", { params: { path: { userId: arya.id, optionName: "TIMEZONE" } } }));
  eq(tzRead.value, "Europe/Paris", "user TIMEZONE read alone (its Location)");
  const freq = one(userOptions.items, (o) => o.option.name === "QUARANTINE_REPORT_FREQUENCY", "user QUARANTINE_REPORT_FREQUENCY");
  eq([freq.value, freq.parentValue], [null, "DAILY"], "user inherits the domain's report frequency");
  await done(sys.DELETE("/users/{userId}/options/{optionName}", { params: { path: { userId: arya.id, optionName: "TIMEZONE" } } }));

  const signature = Buffer.from("<p>Arya Stark<br>Winterfell</p>").toString("base64");
  eq((await ok(sys.PUT("/users/{userId}/sign", { params: { path: { userId: arya.id } }, body: { sign: signature } }))).sign, signature, "signature set");
  eq((await ok(sys.GET("/users/{userId}/sign", { params: { path: { userId: arya.id } } }))).sign, signature, "signature read");
  await done(sys.DELETE("/users/{userId}/sign", { params: { path: { userId: arya.id } } }));
  await fails(sys.GET("/users/{userId}/sign", { params: { path: { userId: arya.id } } }), 422);

  // Her mailbox, on the embedded mail store (IMAP): folders with their
  // counts, the children of one, and a folder's (empty) content.
  const folders = await ok(sys.GET("/users/{userId}/emails/folders", { params: { path: { userId: arya.id }, query: { fields: "STATS" } } }));
  const quarantine = folders.find((f) => f.path === "Quarantine");
  eq(quarantine?.messageCount ?? null, 0, "an empty quarantine");
  await ok(sys.GET("/users/{userId}/emails/folders/{folderPath}", { params: { path: { userId: arya.id, folderPath: "Quarantine" } } }));
  eq((await ok(sys.GET("/users/{userId}/emails/{folderPath}", { params: { path: { userId: arya.id, folderPath: "Quarantine" }, query: { sort: "-receivedDate", subject: "invoice" } } }))).length, 0, "nothing held yet");
  // Nothing is held yet: a message that is not there is the documented 404
  // of each message operation.
  const missing = { userId: arya.id, folderPath: "Quarantine", messageId: "nothing@example.org" };
  await fails(sys.GET("/users/{userId}/emails/{folderPath}/{messageId}", { params: { path: missing, query: { fields: "HEADERS,ATTACHMENTS" } } }), 404);
  await fails(sys.GET("/users/{userId}/emails/{folderPath}/{messageId}/attachments", { params: { path: missing } }), 404);
  await fails(sys.GET("/users/{userId}/emails/{folderPath}/{messageId}/attachments/{partId}", { params: { path: { ...missing, partId: "2" } } }), 404);
  await fails(sys.POST("/users/{userId}/emails/{folderPath}/{messageId}/release", { params: { path: missing } }), 404);

  // She sends mail (through the embedded SMTP server) with a file uploaded
  // first: the upload downloads, is gone once sent, and the copy is in
  // her Sent folder; another upload is deleted.
  const uploadForm = (name: string, text: string) => () => {
    const form = new FormData();
    form.append("file", new Blob([text], { type: "text/plain" }), name);
    return form;
  };
  const plan = await ok(sys.POST("/emails/attachments", { body: { file: "" }, bodySerializer: uploadForm("plan.txt", "march north") }));
  eq([plan.name, plan.type, plan.size, plan.uri], ["plan.txt", "text/plain", 11, `/emails/attachments/${plan.uid}/plan.txt`], "upload made");
  const downloaded = await sys.GET("/emails/attachments/{uid}/{filename}", { params: { path: { uid: plan.uid, filename: plan.name } }, parseAs: "text" });
  eq([downloaded.response.status, downloaded.response.headers.get("Content-Disposition")], [200, 'attachment; filename="plan.txt"'], "upload downloaded");
  const spare = await ok(sys.POST("/emails/attachments", { body: { file: "" }, bodySerializer: uploadForm("spare.txt", "x") }));
  await done(sys.DELETE("/emails/attachments/{uid}/{filename}", { params: { path: { uid: spare.uid, filename: spare.name } } }));
  await done(
    sys.POST("/users/{userId}/emails/send", {
      params: { path: { userId: arya.id } },
      body: { to: ["sansa@stark.example"], subject: "winter", body: "<p>is coming</p>", attachments: [{ uid: plan.uid, name: "plan.txt" }], important: true },
    }),
    200,
  );
  await fails(sys.GET("/emails/attachments/{uid}/{filename}", { params: { path: { uid: plan.uid, filename: plan.name } } }), 404);
  eq(pluck(await ok(sys.GET("/users/{userId}/emails/{folderPath}", { params: { path: { userId: arya.id, folderPath: "Sent" } } })), "subject"), ["winter"], "the copy in Sent");

  // ── A relay configuration tried before it is saved (5.11.6). ─────────
  const [smtpHost, smtpPort] = at.smtp.split(":");
  const tried = await ok(
    sys.POST("/health/try-relay", {
      body: { transportDest: smtpHost, transportPort: Number(smtpPort), transportType: "SMTPS_MAY", authType: "ldap", apiType: "EXCHANGE", apiData: { testAccount: "arya@stark.example" } },
    }),
  );
  eq(
    tried.entries.map((e) => [e.type, e.result, e.output[e.output.length - 1]]),
    [
      ["SMTP", "OK", "Passed"],
      ["AUTH", "NOT_CHECKED", "Not checked: authData names no host"],
      ["API", "NOT_CHECKED", "Not checked: apiData names no host"],
    ],
    "relay tried",
  );
  eq(tried.status, true, "relay tried: status");
  that(
    tried.entries[0].output.some((l) => l.startsWith("RCPT TO:<arya@stark.example> (")),
    "the probe's recipient is the test account",
  );
  const down = await ok(sys.POST("/health/try-relay", { body: { transportDest: smtpHost, transportPort: 1, authType: "local", apiType: "IMAP" } }));
  eq([down.status, down.entries[0].result], [false, "ERROR"], "a relay that is down");

  // The domain's platform, pointed at the embedded SMTP server (on
  // loopback: the checks reach nothing else here), checked and stored
  // (5.11.2, 5.11.5); the failures of the service (5.11.4) list the domain,
  // whose DNS diagnostic failed above.
  await done(sys.PATCH("/platforms/{platformId}", { params: { path: { platformId: relay.id } }, body: { transportDest: smtpHost, transportPort: Number(smtpPort) } }));
  await fails(sys.GET("/platforms/{platformId}/health", { params: { path: { platformId: relay.id } } }), 404);
  const relayHealth = await ok(sys.POST("/platforms/{platformId}/health", { params: { path: { platformId: relay.id } } }), 201);
  eq(relayHealth.report.status, true, "the platform's relay answers");
  eq((await ok(sys.GET("/platforms/{platformId}/health", { params: { path: { platformId: relay.id } } }))).performedAt, relayHealth.performedAt, "its last diagnostic");
  that((await ok(sys.GET("/health"))).some((f) => f.type === "DOMAIN" && f.id === stark.id), "the failing domain is listed");

  // ── E-mail aliases (groups). ─────────────────────────────────────────
  const winter = await ok(
    sys.POST("/domains/{domainId}/groups", { params: { path: { domainId: stark.id } }, body: { email: "winter@stark.example", recipients: ["arya@stark.example", "maester@citadel.example"] } }),
    201,
  );
  eq(
    winter.recipients.map((r) => [r.email, r.type]),
    [
      ["arya@stark.example", "USER"],
      ["maester@citadel.example", "EXTERNAL_ADDRESS"],
    ],
    "e-mail alias recipients",
  );
  eq(one(winter.recipients, (r) => r.type === "USER", "user recipient").firstname, "Arya", "a user recipient's first name");
  eq(await ok(sys.GET("/domains/{domainId}/groups/{groupId}", { params: { path: { domainId: stark.id, groupId: winter.id } } })), winter, "GET e-mail alias");
  await ok(sys.POST("/domains/{domainId}/groups", { params: { path: { domainId: stark.id } }, body: { email: "family@stark.example", recipients: ["sansa@stark.example"] } }), 201);
  const aryaGroups = await page(sys.GET("/domains/{domainId}/groups", { params: { path: { domainId: stark.id }, query: { recipient: "arya@stark.example" } } }));
  eq(pluck(aryaGroups.items, "id"), [winter.id], "e-mail aliases with arya");
  const groups = await page(sys.GET("/domains/{domainId}/groups", { params: { path: { domainId: stark.id }, query: { email: "*@stark.example", sort: "-email" } } }));
  eq(pluck(groups.items, "email"), ["winter@stark.example", "family@stark.example"], "e-mail aliases by -email");
  const withJon = await ok(sys.POST("/domains/{domainId}/groups/{groupId}/addresses", { params: { path: { domainId: stark.id, groupId: winter.id } }, body: ["jon@nightswatch.example"] }), 201);
  eq(withJon.recipients.length, 3, "recipients after adding jon");
  const maester = one(withJon.recipients, (r) => r.email === "maester@citadel.example", "maester");
  await done(sys.DELETE("/domains/{domainId}/groups/{groupId}/addresses/{addressId}", { params: { path: { domainId: stark.id, groupId: winter.id, addressId: maester.id } } }));
  await done(sys.PATCH("/domains/{domainId}/groups/{groupId}", { params: { path: { domainId: stark.id, groupId: winter.id } }, body: { email: "winter-is-coming@stark.example" } }));
  const winterNow = await ok(sys.GET("/domains/{domainId}/groups/{groupId}", { params: { path: { domainId: stark.id, groupId: winter.id } } }));
  eq([winterNow.email, winterNow.recipients.map((r) => r.email)], ["winter-is-coming@stark.example", ["arya@stark.example", "jon@nightswatch.example"]], "e-mail alias after PATCH");

  // ── Sender rules (allow and block lists). ───────────────────────────
  const expireAt = Date.now() + 30 * 24 * 3600 * 1000;
  const domainRules = await ok(
    sys.POST("/domains/{domainId}/wblist", {
      params: { path: { domainId: stark.id } },
      body: [
        { value: "ravens.example", type: "ALLOW", spfOn: true, description: "the maesters' ravens" },
        { value: "spam@bolton.example", type: "BLOCK", expireAt },
      ],
    }),
    201,
  );
  const ravens = one(domainRules, (r) => r.value === "ravens.example", "ravens rule");
  eq([ravens.owner, ravens.type, ravens.spfOn, ravens.expireAt], ["stark.example", "ALLOW", true, null], "domain ALLOW rule");
  const bolton = one(domainRules, (r) => r.value === "spam@bolton.example", "bolton rule");
  eq([bolton.spfOn, bolton.expireAt], [null, expireAt], "domain BLOCK rule");
  const blocks = await page(sys.GET("/domains/{domainId}/wblist", { params: { path: { domainId: stark.id }, query: { type: "BLOCK" } } }));
  eq(pluck(blocks.items, "id"), [bolton.id], "domain BLOCK rules");
  const updated = await ok(sys.PUT("/domains/{domainId}/wblist/{wbItemId}", { params: { path: { domainId: stark.id, wbItemId: bolton.id } }, body: { value: "bolton.example", type: "BLOCK", description: "all of them" } }));
  eq([updated.id, updated.value, updated.description, updated.expireAt], [bolton.id, "bolton.example", "all of them", null], "domain rule replaced");
  const replaced = await ok(
    sys.PUT("/domains/{domainId}/wblist", {
      params: { path: { domainId: stark.id } },
      body: [
        { value: "ravens.example", type: "ALLOW", spfOn: true },
        { value: "bolton.example", type: "BLOCK" },
        { value: "frey.example", type: "BLOCK" },
      ],
    }),
  );
  eq(replaced.length, 3, "domain rules after PUT");
  const byValue = await page(sys.GET("/domains/{domainId}/wblist", { params: { path: { domainId: stark.id }, query: { value: "*.example", sort: "-value", pageSize: 2 } } }));
  eq(pluck(byValue.items, "value"), ["ravens.example", "frey.example"], "domain rules by -value, first page");
  eq(byValue.total, 3, "domain rules: total");

  const aryaRules = await ok(sys.POST("/users/{userId}/wblist", { params: { path: { userId: arya.id } }, body: [{ value: "ravens.example", type: "BLOCK" }] }), 201);
  const aryaBlocksRavens = first(aryaRules, "arya's rule");
  eq(aryaBlocksRavens.owner, "arya@stark.example", "a mailbox rule's owner");
  // The domain decides (wblistPriority DOMAIN): its ALLOW wins over arya's BLOCK.
  const decision = await ok(sys.GET("/users/{userId}/wblist/decision", { params: { path: { userId: arya.id }, query: { sender: "maester@ravens.example" } } }));
  eq(decision.decision, "ALLOW", "decision for the ravens");
  eq(decision.rule?.id, one(replaced, (r) => r.value === "ravens.example", "ravens rule after PUT").id, "the deciding rule");
  const none = await ok(sys.GET("/users/{userId}/wblist/decision", { params: { path: { userId: arya.id }, query: { sender: "someone@dorne.example" } } }));
  eq([none.decision, none.rule], ["NONE", null], "decision for a stranger");
  const aryaRule = await ok(sys.PUT("/users/{userId}/wblist/{wbItemId}", { params: { path: { userId: arya.id, wbItemId: aryaBlocksRavens.id } }, body: { value: "crows.example", type: "BLOCK" } }));
  eq(aryaRule.value, "crows.example", "mailbox rule replaced");
  const bulk = await ok(
    sys.POST("/wblist", {
      body: [
        { owner: "arya@stark.example", value: "needle@forge.example", type: "ALLOW" },
        { owner: "winterfell.example", value: "greyjoy.example", type: "BLOCK" },
      ],
    }),
    201,
  );
  eq(
    bulk.map((r) => r.owner),
    ["arya@stark.example", "stark.example"],
    "bulk rules' owners (an alias names its domain)",
  );
  const aryaList = await page(sys.GET("/users/{userId}/wblist", { params: { path: { userId: arya.id }, query: { type: "ALLOW", sort: "-id" } } }));
  eq(pluck(aryaList.items, "value"), ["needle@forge.example"], "arya's ALLOW rules");
  const aryaSet = await ok(sys.PUT("/users/{userId}/wblist", { params: { path: { userId: arya.id } }, body: [{ value: "crows.example", type: "BLOCK" }, { value: "needle@forge.example", type: "ALLOW" }, { value: "dancing@braavos.example", type: "PROTECTED" }] }));
  eq(aryaSet.length, 3, "arya's rules after PUT");
  const dancing = one(aryaSet, (r) => r.type === "PROTECTED", "PROTECTED rule");
  await done(sys.DELETE("/users/{userId}/wblist/{wbItemId}", { params: { path: { userId: arya.id, wbItemId: dancing.id } } }));
  const frey = one(replaced, (r) => r.value === "frey.example", "frey rule");
  await done(sys.DELETE("/domains/{domainId}/wblist/{wbItemId}", { params: { path: { domainId: stark.id, wbItemId: frey.id } } }));
  eq((await page(sys.GET("/domains/{domainId}/wblist", { params: { path: { domainId: stark.id } } }))).total, 3, "domain rules after a delete");

  // ── Attachment and URI rules. ───────────────────────────────────────
  const exe = await ok(sys.POST("/domains/{domainId}/filters/attachments", { params: { path: { domainId: stark.id } }, body: { action: "DENY", checkType: "FILENAME", filter: "\\.exe$", description: "no programs" } }), 201);
  eq([exe.action, exe.checkType, exe.filter, exe.priority], ["DENY", "FILENAME", "\\.exe$", 1], "attachment rule");
  const pdf = await ok(sys.POST("/domains/{domainId}/filters/attachments", { params: { path: { domainId: stark.id } }, body: { action: "ALLOW", checkType: "CONTENTTYPE", filter: "^application/pdf$" } }), 201);
  eq(pdf.priority, 2, "second attachment rule's priority");
  const denied = await page(sys.GET("/domains/{domainId}/filters/attachments", { params: { path: { domainId: stark.id }, query: { action: "DENY" } } }));
  eq(pluck(denied.items, "id"), [exe.id], "DENY attachment rules");
  await done(sys.PATCH("/filters/attachments/{attachmentId}", { params: { path: { attachmentId: exe.id } }, body: { filter: "\\.(exe|scr)$" } }));
  const attachments = await page(sys.GET("/domains/{domainId}/filters/attachments", { params: { path: { domainId: stark.id }, query: { sort: "-priority" } } }));
  eq(pluck(attachments.items, "filter"), ["^application/pdf$", "\\.(exe|scr)$"], "attachment rules by -priority");
  await done(sys.DELETE("/filters/attachments/{attachmentId}", { params: { path: { attachmentId: pdf.id } } }));

  const phish = await ok(sys.POST("/domains/{domainId}/filters/uris", { params: { path: { domainId: stark.id } }, body: { action: "BLACKLIST_URI_HOST", filter: "Phish.Example", description: "known phishing" } }), 201);
  eq(phish.filter, "phish.example", "URI rule's host, lower-case");
  const maesters = await ok(sys.POST("/domains/{domainId}/filters/uris", { params: { path: { domainId: stark.id } }, body: { action: "WHITELIST_URI_HOST", filter: "citadel.example" } }), 201);
  eq(pluck((await page(sys.GET("/domains/{domainId}/filters/uris", { params: { path: { domainId: stark.id }, query: { action: "WHITELIST_URI_HOST" } } }))).items, "id"), [maesters.id], "allowed URI hosts");
  await done(sys.PATCH("/filters/uris/{uriId}", { params: { path: { uriId: phish.id } }, body: { description: "phishing, reported twice" } }));
  const uris = await page(sys.GET("/domains/{domainId}/filters/uris", { params: { path: { domainId: stark.id }, query: { sort: "priority", pageSize: 1 } } }));
  eq([pluck(uris.items, "description"), uris.total], [["phishing, reported twice"], 2], "URI rules by priority, first page");
  await done(sys.DELETE("/filters/uris/{uriId}", { params: { path: { uriId: maesters.id } } }));

  // ── Administrators and their tokens. ────────────────────────────────
  const ned = await ok(
    sys.POST("/domains/{domainId}/admins", {
      params: { path: { domainId: stark.id } },
      body: { login: "ned", displayName: "Eddard Stark", email: "ned@stark.example", language: "EN", permissions: ["DOMAIN_READ", "USER_READ", "FILTER_READ"] },
    }),
  );
  eq([ned.login, ned.sysAdmin, ned.enabled], ["ned", false, true], "domain administrator created");
  eq(
    ned.authorities.map((a) => [a.objectType, a.objectId, [...a.permissions].sort()]),
    [["DOMAIN", stark.id, ["DOMAIN_READ", "FILTER_READ", "USER_READ"]]],
    "domain administrator's authorities",
  );
  eq(await ok(sys.GET("/domains/{domainId}/admins/{adminId}", { params: { path: { domainId: stark.id, adminId: ned.id } } })), ned, "GET domain administrator");
  const jory = await ok(sys.POST("/domains/{domainId}/admins", { params: { path: { domainId: stark.id } }, body: { login: "jory", permissions: ["DOMAIN_READ"] } }));
  const starkAdmins = await page(sys.GET("/domains/{domainId}/admins", { params: { path: { domainId: stark.id }, query: { sort: "-login" } } }));
  eq(pluck(starkAdmins.items, "login"), ["ned", "jory"], "domain administrators by -login");
  eq(pluck((await page(sys.GET("/domains/{domainId}/admins", { params: { path: { domainId: stark.id }, query: { search: "eddard*" } } }))).items, "id"), [ned.id], "domain administrators found by display name");
  await done(sys.PUT("/domains/{domainId}/admins/{adminId}/authorities", { params: { path: { domainId: stark.id, adminId: ned.id } }, body: ["DOMAIN_READ", "USER_READ", "FILTER_READ", "FILTER_EDIT"] }), 204);

  const token = await ok(sys.POST("/admins/{adminId}/tokens", { params: { path: { adminId: ned.id } }, body: { name: "ned's script", expiration: Date.now() + 24 * 3600 * 1000 } }), 201);
  eq(token.name, "ned's script", "token name");
  that(/^[0-9a-f]{32}$/.test(token.value), "a new token shows its value");
  const tokens = await page(sys.GET("/admins/{adminId}/tokens", { params: { path: { adminId: ned.id } } }));
  eq(pluck(tokens.items, "id"), [token.id], "ned's tokens");
  const tokenRead = await ok(sys.GET("/admins/{adminId}/tokens/{tokenId}", { params: { path: { adminId: ned.id, tokenId: token.id } } }));
  eq([tokenRead.id, tokenRead.name], [token.id, "ned's script"], "ned's token read alone (its Location)");
  that(!("value" in one(tokens.items, (t) => t.id === token.id, "ned's token")), "a listed token hides its value");

  // Ned's own view: his domain only, read but not edit.
  const asNed = connect(at.api, token.value, rec);
  eq(pluck((await page(asNed.GET("/domains"))).items, "id"), [stark.id], "ned sees his domain only");
  const nedPerms = await page(asNed.GET("/security/permissions", { params: { query: { scope: "DOMAIN", id: stark.id } } }));
  eq(pluck(nedPerms.items, "name").sort(), ["DOMAIN_READ", "FILTER_EDIT", "FILTER_READ", "USER_READ"], "ned's permissions on his domain");
  that(
    nedPerms.items.every((p) => !p.editable),
    "ned may grant none of his permissions (no GRANT)",
  );
  await fails(asNed.PATCH("/domains/{domainId}", { params: { path: { domainId: stark.id } }, body: { description: "mine" } }), 403);
  await fails(asNed.GET("/domains/{domainId}", { params: { path: { domainId: lannister.id } } }), 404);

  const admins = await page(sys.GET("/security/admins", { params: { query: { search: "*", sort: "login", pageSize: 2 } } }));
  eq(pluck(admins.items, "login"), ["admin", "jory"], "administrators by login, first page");
  eq(admins.total, 3, "administrators: total");
  const me = one(admins.items, (a) => a.login === "admin", "the sysadmin");
  eq(me.sysAdmin, true, "the bootstrap account is a sysadmin");
  const nedRead = await ok(sys.GET("/security/admins/{adminId}", { params: { path: { adminId: ned.id } } }));
  eq([nedRead.login, nedRead.email], [ned.login, ned.email], "GET administrator");
  eq(nedRead.authorities.map((a) => [...a.permissions].sort()), [["DOMAIN_READ", "FILTER_EDIT", "FILTER_READ", "USER_READ"]], "administrator's authorities after PUT");
  const nedNow = await ok(sys.PATCH("/security/admins/{adminId}", { params: { path: { adminId: ned.id } }, body: { displayName: "Lord Eddard Stark", language: "FR" } }));
  eq([nedNow.displayName, nedNow.language, nedNow.email], ["Lord Eddard Stark", "FR", "ned@stark.example"], "administrator after PATCH");
  // Jory, a domain administrator, also covers the customer and the broker.
  await done(sys.PUT("/customers/{customerId}/admins/{adminId}/authorities", { params: { path: { customerId: customer.id, adminId: jory.id } }, body: ["DOMAIN_READ", "USER_READ"] }));
  await done(sys.PUT("/brokers/{brokerId}/admins/{adminId}/authorities", { params: { path: { brokerId: broker.id, adminId: jory.id } }, body: ["DOMAIN_READ"] }));
  const joryNow = await ok(sys.GET("/security/admins/{adminId}", { params: { path: { adminId: jory.id } } }));
  eq(joryNow.authorities.map((a) => a.objectType).sort(), ["BROKER", "CUSTOMER", "DOMAIN"], "jory's authorities");
  await done(sys.DELETE("/admins/{adminId}/tokens/{tokenId}", { params: { path: { adminId: ned.id, tokenId: token.id } } }));
  await fails(asNed.GET("/domains"), 401);

  // ── A temporary token for an end user, and what it reaches. ─────────
  const temp = await ok(sys.GET("/token", { params: { query: { username: "arya@stark.example", validity: 2 } } }), 202);
  const jwt = temp.token;
  that(jwt.split(".").length === 3, "a temporary token is a JWT");
  const hours = (temp.expireAt - Date.now()) / 3600e3;
  that(hours > 1.9 && hours <= 2, `temporary token valid for ${hours} hours, want 2`);
  // url is there because APP_URL is set (on the platform, this morning).
  eq(temp.url, `https://portal.cleanmail.example/?token=${encodeURIComponent(jwt)}`, "temporary token's URL");
  const asArya = connect(at.api, jwt, rec);
  eq((await ok(asArya.GET("/users/{userId}", { params: { path: { userId: arya.id } } }))).email, "arya@stark.example", "arya reads her mailbox");
  await ok(asArya.POST("/users/{userId}/wblist", { params: { path: { userId: arya.id } }, body: [{ value: "joffrey@kingslanding.example", type: "BLOCK" }] }), 201);
  eq((await page(asArya.GET("/users/{userId}/wblist", { params: { path: { userId: arya.id } } }))).total, 3, "arya's rules, as arya");
  await fails(asArya.GET("/users/{userId}", { params: { path: { userId: sansa.id } } }), 404);
  const own = await ok(asArya.GET("/token"), 202);
  that(own.token.length > 0, "arya renews her own token");

  // ── Tasks: mails from the job queue (the embedded SMTP server gets them). ──
  const welcome = await sys.POST("/tasks", { body: { command: "send_welcome_mail", params: { recipient: "arya@stark.example" } } });
  eq(welcome.response.status, 202, "the welcome mail's task is accepted");
  const location = welcome.response.headers.get("Location") ?? "";
  const taskId = location.slice(location.lastIndexOf("/tasks/") + "/tasks/".length);
  that(taskId.length > 0, `the task's Location ${location}`);
  const task = await ok(sys.GET("/tasks/{taskId}", { params: { path: { taskId } } }));
  eq([task.id, task.command], [taskId, "send_welcome_mail"], "the task's state");
  await fails(sys.POST("/tasks", { body: { command: "send_token_mail", params: { recipient: "arya@stark.example", validity: 0 } } }), 400);
  await fails(sys.POST("/tasks", { body: { command: "send_welcome_mail", params: { recipient: "nobody@stark.example" } } }), 422);
  await fails(anyone.POST("/password", { body: { token: "not-the-token-of-any-link", password: "Winter1sComing" } }), 422);
  await fails(anyone.GET("/releases/{token}", { params: { path: { token: "not.a-release-link" } } }), 422);
  const mailed = await ok(sys.GET("/token", { params: { query: { username: "arya@stark.example", sendMail: true } } }), 202);
  eq([mailed.token, mailed.url], ["", null], "a mailed token is not in the response");

  // ── Exports, from the server itself (the proxy rewrites binary bodies). ──
  await exports(connectSpreadsheets(at.server, at.token, rec), stark.id, arya.id);

  // ── Evening: what is no longer needed goes. ─────────────────────────
  await done(sys.DELETE("/domains/{domainId}/admins/{adminId}", { params: { path: { domainId: stark.id, adminId: ned.id } } }));
  await fails(sys.GET("/security/admins/{adminId}", { params: { path: { adminId: ned.id } } }), 404);
  await done(sys.DELETE("/security/admins/{adminId}", { params: { path: { adminId: jory.id } } }));
  await done(sys.DELETE("/groups/{groupId}", { params: { path: { groupId: winter.id } } }));
  await fails(sys.GET("/domains/{domainId}/groups/{groupId}", { params: { path: { domainId: stark.id, groupId: winter.id } } }), 404);
  await done(sys.DELETE("/users/{userId}", { params: { path: { userId: sansa.id } } }));
  await done(sys.DELETE("/policies/{policyId}", { params: { path: { policyId: strict.id } } }));
  await done(sys.DELETE("/customers/{customerId}/options/{optionName}", { params: { path: { customerId: customer.id, optionName: "SUPPORT_URL" } } }));
  await done(sys.DELETE("/options/platform/{optionName}", { params: { path: { optionName: "QUARANTINE_REPORT_FREQUENCY" } } }));
  await done(sys.DELETE("/domains/{domainId}", { params: { path: { domainId: lannister.id } } }));
  const gone = await ok(sys.GET("/domains/{domainId}", { params: { path: { domainId: lannister.id } } }));
  eq(gone.status, "DELETED", "a deleted domain is DELETED");
  that(typeof gone.purgeDate === "number" && typeof gone.deletionDate === "number" && gone.purgeDate > gone.deletionDate, "a deleted domain has its purge date after its deletion date");
  await fails(sys.DELETE("/domains/{domainId}", { params: { path: { domainId: lannister.id } } }), 422);
  // Restored the same evening: deleted by mistake.
  await done(sys.PATCH("/domains/{domainId}", { params: { path: { domainId: lannister.id } }, body: { status: "ENABLED" } }));
  const back = await ok(sys.GET("/domains/{domainId}", { params: { path: { domainId: lannister.id } } }));
  eq([back.status, back.deletionDate, back.purgeDate], ["ENABLED", null, null], "a restored domain");
}

/** The spreadsheet exports of the day's lists, and their headers. */
async function exports(direct: Spreadsheets, domainId: string, userId: string): Promise<void> {
  const exported: [string, Promise<{ data?: ArrayBuffer; response: Response }>, string, number][] = [
    ["domain sender rules", direct.GET("/domains/{domainId}/wblist", { params: { path: { domainId } }, parseAs: "arrayBuffer" }), "wblist-stark.example.xlsx", 3],
    ["mailbox sender rules", direct.GET("/users/{userId}/wblist", { params: { path: { userId } }, parseAs: "arrayBuffer" }), "wblist-arya@stark.example.xlsx", 3],
    ["attachment rules", direct.GET("/domains/{domainId}/filters/attachments", { params: { path: { domainId } }, parseAs: "arrayBuffer" }), "attachment-filters-stark.example.xlsx", 1],
    ["URI rules", direct.GET("/domains/{domainId}/filters/uris", { params: { path: { domainId } }, parseAs: "arrayBuffer" }), "uri-filters-stark.example.xlsx", 1],
    ["users", direct.GET("/domains/{domainId}/users", { params: { path: { domainId } }, parseAs: "arrayBuffer" }), "users-stark.example.xlsx", 2],
    ["e-mail aliases", direct.GET("/domains/{domainId}/groups", { params: { path: { domainId } }, parseAs: "arrayBuffer" }), "email-aliases-stark.example.xlsx", 2],
  ];
  for (const [what, call, filename, rows] of exported) {
    const r = await call;
    eq(r.response.status, 200, `export of ${what}: status`);
    eq(r.response.headers.get("Content-Type"), XLSX, `export of ${what}: Content-Type`);
    eq(r.response.headers.get("Content-Disposition"), `attachment; filename="${filename}"`, `export of ${what}: Content-Disposition`);
    eq(r.response.headers.get("X-Total-Count"), String(rows), `export of ${what}: X-Total-Count`);
    const magic = r.data === undefined ? "" : Buffer.from(r.data).subarray(0, 2).toString("latin1");
    eq(magic, "PK", `export of ${what}: an Office Open XML (zip) file`);
  }
}
