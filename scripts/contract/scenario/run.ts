// Runs the operator's day (day.ts) against a running server and reports:
// the violations the validating proxy found, the assertions that failed,
// and the delivered operations the day did not call. Any of them fails
// the run (exit status 1).
//
// Environment:
//   CLEANMAIL_CONTRACT_URL  where the JSON calls go (the Prism proxy)
//   CLEANMAIL_SERVER_URL    the server itself (for the binary exports)
//   CLEANMAIL_CONTRACT_TOKEN  the sysadmin's personal token
//   CLEANMAIL_CONTRACT_SMTP   the server's embedded SMTP server (host:port),
//                             which the relay check probes
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { newRecord, StatusError } from "../client/cleanmail.js";
import { mismatches } from "./check.js";
import { day } from "./day.js";

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`${name} is not set`);
  return v;
}

/** "METHOD /path" of every operation of openapi.yaml not listed in undelivered.txt. */
function deliveredOperations(root: URL): Map<string, string> {
  const spec: unknown = parse(readFileSync(new URL("openapi.yaml", root), "utf8"));
  const undelivered = new Set(
    readFileSync(new URL("pkg/api/undelivered.txt", root), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
  const out = new Map<string, string>();
  if (typeof spec !== "object" || spec === null || !("paths" in spec) || typeof spec.paths !== "object" || spec.paths === null) {
    throw new Error("openapi.yaml has no paths");
  }
  for (const [path, item] of Object.entries(spec.paths)) {
    if (typeof item !== "object" || item === null) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "put", "post", "delete", "patch"].includes(method)) continue;
      if (typeof op !== "object" || op === null || !("operationId" in op) || typeof op.operationId !== "string") continue;
      if (!undelivered.has(op.operationId)) out.set(`${method.toUpperCase()} ${path}`, op.operationId);
    }
  }
  return out;
}

async function main(): Promise<number> {
  const root = new URL("../../../../", import.meta.url);
  const rec = newRecord();
  const started = Date.now();
  let aborted: string | undefined;
  try {
    await day({ api: env("CLEANMAIL_CONTRACT_URL"), server: env("CLEANMAIL_SERVER_URL"), token: env("CLEANMAIL_CONTRACT_TOKEN"), smtp: env("CLEANMAIL_CONTRACT_SMTP") }, rec);
  } catch (err) {
    aborted = err instanceof StatusError || err instanceof Error ? err.message : String(err);
  }
  const delivered = deliveredOperations(root);
  const missed = [...delivered].filter(([key]) => !rec.called.has(key)).map(([key, id]) => `${id} (${key})`);

  for (const v of rec.violations) console.log(`VIOLATION ${v.request}: ${v.source}: ${v.detail}`);
  for (const m of mismatches) console.log(`MISMATCH ${m}`);
  if (aborted !== undefined) console.log(`ABORTED ${aborted}`);
  if (aborted === undefined) for (const m of missed) console.log(`NOT CALLED ${m}`);
  const called = [...delivered.keys()].filter((k) => rec.called.has(k)).length;
  console.log(
    `scenario: ${called} of ${delivered.size} delivered operations called, ${rec.violations.length} violations, ${mismatches.length} mismatches` +
      `${aborted === undefined ? "" : ", aborted"} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  return rec.violations.length > 0 || mismatches.length > 0 || aborted !== undefined || missed.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  },
);
