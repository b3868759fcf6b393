// The Cleanmail TypeScript client: openapi-fetch over the types that
// openapi-typescript generates from openapi.yaml (schema.gen.ts), plus what
// a contract test needs around it: the violations Prism reports, the
// operations called, and checks of statuses that name the request.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { paths } from "./schema.gen.js";

export type { paths, components } from "./schema.gen.js";

/** A request the validating proxy found out of contract. */
export interface Violation {
  request: string;
  source: string;
  detail: string;
}

/** What one client saw: violations, and the operations it called. */
export interface Record {
  violations: Violation[];
  /** "METHOD /path/{template}" of every request sent. */
  called: Set<string>;
}

export function newRecord(): Record {
  return { violations: [], called: new Set() };
}

function isPrismProblem(body: unknown): body is { type: string; title?: unknown; validation?: unknown } {
  return (
    typeof body === "object" &&
    body !== null &&
    "type" in body &&
    typeof body.type === "string" &&
    body.type.startsWith("https://stoplight.io/prism/errors#")
  );
}

// recorder notes each operation called and every violation Prism reports:
// the sl-violations header (request and response violations Prism lets
// through) and its own problem documents (with --errors, what it blocked
// or replaced). None of them ever comes from the server itself.
function recorder(rec: Record): Middleware {
  return {
    onRequest({ request, schemaPath }) {
      rec.called.add(`${request.method} ${schemaPath}`);
      return undefined;
    },
    async onResponse({ request, response }) {
      const url = new URL(request.url);
      const where = `${request.method} ${url.pathname}${url.search} → ${response.status}`;
      if ((response.headers.get("content-type") ?? "").includes("problem+json")) {
        const body: unknown = await response
          .clone()
          .json()
          .catch(() => undefined);
        if (isPrismProblem(body)) {
          rec.violations.push({ request: where, source: body.type.replace(/.*#/, "prism "), detail: JSON.stringify(body.validation ?? body.title) });
          return undefined;
        }
      }
      const header = response.headers.get("sl-violations");
      if (header !== null) {
        rec.violations.push({ request: where, source: "sl-violations", detail: header });
      }
      return undefined;
    },
  };
}

/** The media type of the spreadsheet exports (Office Open XML). */
export const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** A client that speaks JSON: its responses are typed as the JSON ones. */
export type Cleanmail = Client<paths, "application/json">;
/** A client that asks for spreadsheets, for the lists that export them. */
export type Spreadsheets = Client<paths, typeof XLSX>;

function options(baseUrl: string, token: string | undefined, accept: string): { baseUrl: string; headers: { [name: string]: string } } {
  const headers: { [name: string]: string } = { Accept: accept };
  if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
  return { baseUrl, headers };
}

/** A JSON client for baseUrl sending token (none: undefined), recording into rec. */
export function connect(baseUrl: string, token: string | undefined, rec: Record): Cleanmail {
  const client = createClient<paths, "application/json">(options(baseUrl, token, "application/json"));
  client.use(recorder(rec));
  return client;
}

/** A client asking for spreadsheets (XLSX) for baseUrl, recording into rec. */
export function connectSpreadsheets(baseUrl: string, token: string, rec: Record): Spreadsheets {
  const client = createClient<paths, typeof XLSX>(options(baseUrl, token, XLSX));
  client.use(recorder(rec));
  return client;
}

/** Thrown when a response has a status the scenario did not expect. */
export class StatusError extends Error {}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function describe(r: Answer<unknown>): string {
  const url = new URL(r.response.url);
  return `${url.pathname}${url.search}`;
}

/**
 * Awaits a call, checks that its status is one of want, and returns its
 * body: the typed data of a success.
 */
export async function expectStatus<T>(call: Promise<Answer<T>>, ...want: number[]): Promise<{ data: T | undefined; response: Response }> {
  const r = await call;
  if (!want.includes(r.response.status)) {
    throw new StatusError(`${describe(r)}: status ${r.response.status}, want ${want.join(" or ")}: ${JSON.stringify(r.error ?? r.data)}`);
  }
  return { data: r.data, response: r.response };
}

/** Awaits a call that must succeed with status want and a body. */
export async function ok<T>(call: Promise<Answer<T>>, want: number = 200): Promise<T> {
  const { data, response } = await expectStatus(call, want);
  if (data === undefined) {
    throw new StatusError(`${new URL(response.url).pathname}: status ${want} without a body`);
  }
  return data;
}

/** Awaits a call that must succeed with status want (204 by default) and no body. */
export async function done(call: Promise<Answer<unknown>>, want: number = 204): Promise<void> {
  await expectStatus(call, want);
}

/** Awaits a call that must fail with status want, and returns its problem document. */
export async function fails(call: Promise<Answer<unknown>>, want: number): Promise<unknown> {
  const r = await call;
  if (r.response.status !== want) {
    throw new StatusError(`${describe(r)}: status ${r.response.status}, want ${want}: ${JSON.stringify(r.error ?? r.data)}`);
  }
  return r.error;
}

/** X-Total-Count of a list response. */
export function totalCount(response: Response): number {
  const v = response.headers.get("X-Total-Count");
  if (v === null || !/^\d+$/.test(v)) {
    throw new StatusError(`${new URL(response.url).pathname}: X-Total-Count is ${JSON.stringify(v)}`);
  }
  return Number(v);
}

/**
 * The page after a list response's, as its Link header names it (an
 * extension: rel="next", RFC 8288), resolved against the request's URL;
 * null on the last page.
 */
export function nextLink(response: Response): URL | null {
  const v = response.headers.get("Link");
  if (v === null) return null;
  const m = /^<([^<>\s]+)>; rel="next"$/.exec(v);
  if (m === null || m[1] === undefined) {
    throw new StatusError(`${new URL(response.url).pathname}: Link is ${JSON.stringify(v)}`);
  }
  return new URL(m[1], response.url);
}

/** Awaits a list call that must answer 200: its items, X-Total-Count, and the Link to the next page (null on the last). */
export async function page<T>(call: Promise<Answer<T>>): Promise<{ items: T; total: number; next: URL | null }> {
  const { data, response } = await expectStatus(call, 200);
  if (data === undefined) {
    throw new StatusError(`${new URL(response.url).pathname}: a list without a body`);
  }
  return { items: data, total: totalCount(response), next: nextLink(response) };
}
