#!/usr/bin/env python3
"""Bootstrap the Cleanmail OpenAPI 3.0.3 contract from the API reference document.

This script was used to bootstrap ``openapi.yaml`` from
``cleanmail-api-reference.txt`` (sections 5 "Endpoints" and 6 "Models").  It
parses the reference, applies the project's conventions and every hand
decision listed in the DATA section below, checks the doc's examples against
the generated schemas, and writes a deterministic YAML file.

Rerun it with:

    python3 scripts/doc2openapi.py [--doc PATH] [--out PATH]

Defaults: --doc /work/shared/spec/cleanmail-api-reference.txt,
--out <repo>/openapi.yaml.

Conventions applied (decided by the project):
* ids (``id``, ``*Id`` integer references, path parameters holding ids) are
  opaque strings, never integers;
* Date fields are integer epoch milliseconds (EntityHealth.performedAt: epoch
  seconds);
* enum values appear once, upper case, as in the examples (input is
  case-insensitive); the doc's examples win over its model tables;
* errors are RFC 9457 problem+json (components/schemas/Problem);
* lists declare X-Total-Count, creations (201) declare Location;
* every string has a maxLength and every array a maxItems, from the limit
  tables of the DATA section ("Limits"); operations with a body declare 413,
  secured ones 429, and every 429 and 503 a Retry-After header.

Notes on vendor extensions: nullable enum properties are emitted inline with
``null`` in the enum (required by OpenAPI 3.0.3 for a null example to be
valid) and carry ``x-go-type`` so oapi-codegen reuses the shared enum Go
type (or ``string`` when that type would not be generated) instead of
emitting a bogus "<nil>" constant.

After generating, the lead lints with redocly (redocly.yaml at the repo root)
and regenerates the Go server with oapi-codegen (gen/generate.go).
"""

import argparse
import copy
import json
import os
import re
import sys
from collections import OrderedDict

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("PyYAML is required (Debian: apt-get install python3-yaml)")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_DOC = "/work/shared/spec/cleanmail-api-reference.txt"
DEFAULT_OUT = os.path.join(REPO, "openapi.yaml")

# =============================================================================
# DATA: every hand decision lives here
# =============================================================================

INFO = OrderedDict([
    ("title", "Cleanmail API"),
    ("version", "1.0.0"),
])

INFO_DESCRIPTION = """\
Administration API of Cleanmail, an e-mail security gateway: domains and their
aliases, DKIM keys, policies, users, e-mail aliases (groups), sender, attachment
and URI filtering rules, quarantined/retained e-mails, options, administrators,
access tokens, health checks and asynchronous tasks.

## Authentication

Every request needs an authentication, except the service probes `/livez` and
`/readyz`. A request whose authentication is missing or invalid is answered
with status 401.

Send a bearer token: `Authorization: Bearer <token>`. Personal tokens are
created with `POST /admins/{adminId}/tokens` (the "Access tokens" section of
the administration interface); a token inherits the roles of the account it
belongs to. Tokens have no link with the account password: changing the
password does not affect them. One token can be created per application, with
or without an expiration date. If the account attached to a token is disabled
or deleted, its requests are rejected. Temporary tokens (JWTs) are issued by
`GET /token`.

## Authorizations

Each request requires specific permissions. A sysadmin holds them all; any
other administrator holds authorities: a list of permissions (see GET
/security/permissions) on a domain, a customer or a broker, an authority on a
customer or broker covering every domain beneath it. End users, with a
temporary token, act on their own mailbox with the permissions their domain
gives its users (PUT /domains/{domainId}/access).

A caller that lacks the permission gets 403 when it holds some authority over
the object (it may know it exists), and 404 otherwise, exactly as for an
object that does not exist. Lists show only what the caller may read, and
X-Total-Count counts only that.

## Filtering

Some list operations accept filters: add a query parameter named after the
field. Only one filter is allowed per request. `*` is a wildcard:

* `GET /domains?name=mydomain.net`: the domain named exactly "mydomain.net";
* `GET /domains?name=mydomain*`: names starting with "mydomain";
* `GET /domains?name=*mydomain`: names ending with "mydomain";
* `GET /domains?name=*mydomain*`: names containing "mydomain".

## Sorting

The `sort` parameter names the field used to sort the result; prefix it with
`-` to reverse the order: `GET /domains?sort=-name` (descending names),
`GET /domains?sort=id` (ascending ids).

## Pagination

List operations are paginated with `offset` (index of the first item, from 0,
default 0) and `pageSize` (default 40, at most 1000):
`GET /domains?offset=0&pageSize=10` returns the first 10 domains. Every list
response carries the header `X-Total-Count`: the total number of items
matching the filters, regardless of paging.

## Limits

Strings and arrays are bounded as declared per field (`maxLength`,
`maxItems`): a longer value is a 400 naming the field. Lengths count
characters, not bytes. Request bodies are limited in size: 1 MiB for JSON by
default (configurable with `CLEANMAIL_MAX_BODY`) and 25 MiB for uploads
(`CLEANMAIL_MAX_UPLOAD`); a larger body is answered 413. Failed
authentications are throttled per client address and per token prefix: past
the threshold, requests are answered 429 with `Retry-After` (seconds) until
it has passed.

## Conventions

* Identifiers (`id`, `domainId`, path parameters such as `{domainId}`, ...)
  are short opaque strings such as `ByE3n`. Never parse or compute them.
* Dates are integers: milliseconds since the Unix epoch (exception:
  `EntityHealth.performedAt`, in seconds).
* Enum values are case-insensitive on input: the server normalises them to
  the canonical spelling listed in the schema (`enabled` becomes `ENABLED`)
  before validation. Output always uses that canonical spelling, which is
  upper case, except for `authType` and `Task.command`, whose canonical
  spelling is lower case as in the reference examples.
* Errors are RFC 9457 problem details (`application/problem+json`, schema
  `Problem`); validation failures list the offending fields in `errors`.
"""

TAG_DESCRIPTIONS = OrderedDict([
    ("AccessControls", "Administrator accounts and the permissions they can be granted."),
    ("AuthenticationTokens", "Personal access tokens of administrators."),
    ("DomainAliases", "Alternative names of a domain."),
    ("DomainPolicies", "Filtering and storage policies of a domain."),
    ("Domains", "Domains, their options, their administrators and end-user permissions."),
    ("DomainsDKIM", "DKIM keys of a domain."),
    ("Emails", "Mailboxes (IMAP folders and messages), sending, releasing and attachments."),
    ("FilteringRulesOnAttachments", "Attachment filtering rules of a domain."),
    ("FilteringRulesOnSenders", "Sender allow/block lists (wblist) of domains and mailboxes."),
    ("FilteringRulesOnURI", "URI blocklist (URI-BL) rules of a domain."),
    ("Health", "Diagnostics of domains and SMTP relays (platforms)."),
    ("Tasks", "Asynchronous tasks (notification e-mails, ...)."),
    ("TemporaryAuthTokens", "Short-lived authentication tokens."),
    ("Users", "User accounts (mailboxes) and their options."),
    ("UsersAliases", "E-mail aliases (groups) of a domain and their recipients."),
    ("UsersSigns", "HTML signatures of users."),
    ("Extensions", "Operations not in the reference document, added for the entities it "
                   "references but no documented operation creates or reads."),
    ("Service", "Service probes (no authentication)."),
])

# operationId and tag for each documented operation, keyed by (METHOD, final path).
OPERATION_IDS = OrderedDict([
    # AccessControls
    (("DELETE", "/security/admins/{adminId}"), "DeleteAdmin"),
    (("GET", "/security/admins"), "ListAdmins"),
    (("GET", "/security/admins/{adminId}"), "GetAdmin"),
    (("GET", "/security/permissions"), "ListPermissions"),
    (("PATCH", "/security/admins/{adminId}"), "UpdateAdmin"),
    # AuthenticationTokens
    (("POST", "/admins/{adminId}/tokens"), "CreateToken"),
    (("GET", "/admins/{adminId}/tokens"), "ListTokens"),
    (("DELETE", "/admins/{adminId}/tokens/{tokenId}"), "DeleteToken"),
    # DomainAliases
    (("POST", "/domains/{domainId}/aliases"), "AddDomainAlias"),
    (("DELETE", "/domains/{domainId}/aliases/{aliasId}"), "DeleteDomainAlias"),
    (("GET", "/domains/{domainId}/aliases"), "ListDomainAliases"),
    (("PUT", "/domains/{domainId}/aliases"), "SetDomainAliases"),
    # DomainPolicies
    (("POST", "/domains/{domainId}/policies"), "CreatePolicy"),
    (("DELETE", "/policies/{policyId}"), "DeletePolicy"),
    (("GET", "/policies/{policyId}"), "GetPolicy"),
    (("GET", "/domains/{domainId}/policies"), "ListDomainPolicies"),
    (("PATCH", "/policies/{policyId}"), "UpdatePolicy"),
    # Domains
    (("POST", "/domains"), "CreateDomain"),
    (("PUT", "/domains/{domainId}/access"), "SetDomainUsersAccess"),
    (("POST", "/domains/{domainId}/admins"), "CreateDomainAdmin"),
    (("DELETE", "/domains/{domainId}/options/{optionName}"), "DeleteDomainOption"),
    (("DELETE", "/domains/{domainId}/admins/{adminId}"), "RevokeDomainAdmin"),
    (("DELETE", "/domains/{domainId}"), "DeleteDomain"),
    (("GET", "/domains/{domainId}/admins/{adminId}"), "GetDomainAdmin"),
    (("GET", "/domains/{domainId}"), "GetDomain"),
    (("GET", "/domains/{domainId}/admins"), "ListDomainAdmins"),
    (("GET", "/domains/{domainId}/options"), "ListDomainOptions"),
    (("GET", "/domains"), "ListDomains"),
    (("GET", "/domains/{domainId}/access"), "GetDomainUsersAccess"),
    (("PUT", "/domains/{domainId}/admins/{adminId}/authorities"), "SetDomainAdminAuthorities"),
    (("POST", "/domains/{domainId}/options"), "SetDomainOption"),
    (("PATCH", "/domains/{domainId}"), "UpdateDomain"),
    # DomainsDKIM
    (("POST", "/domains/{domainId}/dkim"), "AddDomainDkim"),
    (("DELETE", "/domains/{domainId}/dkim"), "DeleteDomainDkim"),
    (("GET", "/domains/{domainId}/dkim"), "GetDomainDkim"),
    (("PUT", "/domains/{domainId}/dkim"), "UpdateDomainDkim"),
    # Emails
    (("DELETE", "/emails/attachments/{uid}/{filename}"), "DeleteAttachment"),
    (("GET", "/users/{userId}/emails/{folderPath}/{messageId}/attachments"), "GetEmailAttachments"),
    (("GET", "/users/{userId}/emails/{folderPath}/{messageId}/attachments/{partId}"),
     "DownloadEmailAttachmentPart"),
    (("GET", "/emails/attachments/{uid}/{filename}"), "DownloadAttachment"),
    (("GET", "/users/{userId}/emails/{folderPath}/{messageId}"), "GetEmail"),
    (("GET", "/users/{userId}/emails/folders"), "GetFolders"),
    (("GET", "/users/{userId}/emails/folders/{folderPath}"), "GetFolder"),
    (("GET", "/users/{userId}/emails/{folderPath}"), "GetFolderContent"),
    (("POST", "/users/{userId}/emails/{folderPath}/{messageId}/release"), "ReleaseEmail"),
    (("POST", "/users/{userId}/emails/send"), "SendEmail"),
    (("POST", "/emails/attachments"), "UploadAttachment"),
    # FilteringRulesOnAttachments
    (("POST", "/domains/{domainId}/filters/attachments"), "AddDomainAttachmentFilter"),
    (("DELETE", "/filters/attachments/{attachmentId}"), "DeleteAttachmentFilter"),
    (("GET", "/domains/{domainId}/filters/attachments"), "ListDomainAttachmentFilters"),
    (("PATCH", "/filters/attachments/{attachmentId}"), "UpdateAttachmentFilter"),
    # FilteringRulesOnSenders
    (("POST", "/wblist"), "AddWblistEntries"),
    (("POST", "/domains/{domainId}/wblist"), "AddDomainWblistRules"),
    (("POST", "/users/{userId}/wblist"), "AddUserWblistRules"),
    (("DELETE", "/domains/{domainId}/wblist/{wbItemId}"), "DeleteDomainWblistRule"),
    (("DELETE", "/users/{userId}/wblist/{wbItemId}"), "DeleteUserWblistRule"),
    (("GET", "/domains/{domainId}/wblist"), "ListDomainWblistRules"),
    (("GET", "/users/{userId}/wblist"), "ListUserWblistRules"),
    (("PUT", "/domains/{domainId}/wblist/{wbItemId}"), "UpdateDomainWblistRule"),
    (("PUT", "/users/{userId}/wblist/{wbItemId}"), "UpdateUserWblistRule"),
    (("PUT", "/domains/{domainId}/wblist"), "SetDomainWblistRules"),
    (("PUT", "/users/{userId}/wblist"), "SetUserWblistRules"),
    # FilteringRulesOnURI
    (("POST", "/domains/{domainId}/filters/uris"), "AddDomainUriFilter"),
    (("DELETE", "/filters/uris/{uriId}"), "DeleteUriFilter"),
    (("GET", "/domains/{domainId}/filters/uris"), "ListDomainUriFilters"),
    (("PATCH", "/filters/uris/{uriId}"), "UpdateUriFilter"),
    # Health
    (("POST", "/domains/{domainId}/health"), "RunDomainDiagnostic"),
    (("POST", "/platforms/{platformId}/health"), "RunPlatformDiagnostic"),
    (("GET", "/domains/{domainId}/health"), "GetDomainHealth"),
    (("GET", "/health"), "ListHealthErrors"),
    (("GET", "/platforms/{platformId}/health"), "GetPlatformDiagnostic"),
    (("POST", "/health/try-relay"), "TryRelayConfiguration"),
    # Tasks
    (("POST", "/tasks"), "ExecuteTask"),
    # TemporaryAuthTokens
    (("GET", "/token"), "GetTemporaryAuthToken"),
    # Users
    (("POST", "/users"), "CreateUser"),
    (("DELETE", "/users/{userId}/options/{optionName}"), "DeleteUserOption"),
    (("DELETE", "/users/{userId}"), "DeleteUser"),
    (("GET", "/users/{userId}"), "GetUser"),
    (("GET", "/domains/{domainId}/users"), "ListDomainUsers"),
    (("GET", "/users/{userId}/options"), "ListUserOptions"),
    (("GET", "/users"), "ListUsers"),
    (("POST", "/users/{userId}/options"), "SetUserOption"),
    (("PATCH", "/users/{userId}"), "UpdateUser"),
    # UsersAliases
    (("POST", "/domains/{domainId}/groups/{groupId}/addresses"), "AddEmailAliasAddresses"),
    (("POST", "/domains/{domainId}/groups"), "CreateEmailAlias"),
    (("DELETE", "/groups/{groupId}"), "DeleteEmailAlias"),
    (("DELETE", "/domains/{domainId}/groups/{groupId}/addresses/{addressId}"),
     "DeleteEmailAliasRecipient"),
    (("GET", "/domains/{domainId}/groups/{groupId}"), "GetEmailAlias"),
    (("GET", "/domains/{domainId}/groups"), "ListDomainEmailAliases"),
    (("PATCH", "/domains/{domainId}/groups/{groupId}"), "UpdateEmailAlias"),
    # UsersSigns
    (("DELETE", "/users/{userId}/sign"), "DeleteUserSign"),
    (("GET", "/users/{userId}/sign"), "GetUserSign"),
    (("PUT", "/users/{userId}/sign"), "SetUserSign"),
])

# Path template names: one name per position under the same prefix.
PATH_PARAM_RENAMES = {
    "userIdOrEmail": "userId",
    "fugluIdOrMailId": "messageId",
    "fugluId": "messageId",
    "emailId": "messageId",
    "path": "folderPath",
}
# Renames that apply to one documented path only.
PATH_SPECIFIC_RENAMES = {
    "/admins/{adminId}/tokens/{id}": {"id": "tokenId"},
}

ID_SCHEMA_MAXLEN = 64
ID_EXAMPLE = "ByE3n"

# Descriptions of path parameters (the doc gives almost none).
PATH_PARAM_DESCRIPTIONS = {
    "adminId": "Id of the administrator account",
    "tokenId": "Id of the personal token",
    "domainId": "Id of the domain",
    "aliasId": "Id of the domain alias",
    "policyId": "Id of the policy",
    "optionName": "Name of the option (see GET /options)",
    "uid": "Unique identifier of the uploaded file (AttachmentFile.uid)",
    "filename": "Name of the uploaded file (AttachmentFile.name)",
    "userId": "Id or e-mail address of the user",
    "folderPath": ("IMAP folder path. It may contain `/` (hierarchy delimiter), which must be "
                   "sent percent-encoded: `INBOX%2FSub`."),
    "messageId": "Id of the e-mail: the value of its X-Fuglu-Id header or its Message-ID",
    "partId": "Id of the attachment (MIME part) in the message (ImapMessageAttachment.id)",
    "attachmentId": "Id of the attachment filter rule",
    "wbItemId": "Id of the sender filtering rule",
    "uriId": "Id of the URI-BL filter rule",
    "platformId": "Id of the platform (SMTP relay)",
    "groupId": "Id of the e-mail alias (group)",
    "addressId": "Id of the recipient of the e-mail alias",
    "customerId": "Id of the customer",
    "brokerId": "Id of the broker",
    "outgoingProviderId": "Id of the outgoing provider",
}
# Per-operation additions to a path parameter description.
PATH_PARAM_DESCRIPTION_EXTRA = {
    ("GetFolder", "folderPath"): "Path of the parent folder whose subfolders are returned.",
}
# Path parameters that are not opaque ids (string schemas without the id constraints).
NON_ID_PATH_PARAMS = {"userId", "folderPath", "messageId", "partId", "optionName", "uid", "filename"}
PATH_PARAM_EXAMPLES = {"userId": "By46n", "folderPath": "INBOX", "optionName": "DOMAIN_ADMIN"}

# Query/header parameter schemas; key (operationId, name) wins over name.
PARAM_SCHEMAS = {
    "sort": {"type": "string"},
    "search": {"type": "string"},
    "name": {"type": "string"},
    "email": {"type": "string"},
    "platformName": {"type": "string"},
    "externalId": {"type": "string"},
    "value": {"type": "string"},
    "recipient": {"type": "string"},
    "from": {"type": "string"},
    "to": {"type": "string"},
    "cc": {"type": "string"},
    "subject": {"type": "string"},
    "body": {"type": "string"},
    "username": {"type": "string", "format": "email"},
    "fields": {"type": "string"},
    "scope": {"type": "string"},
    "customerId": "ID",
    "platformId": "ID",
    "status": {"$ref": "#/components/schemas/DomainStatus"},
    "type": {"$ref": "#/components/schemas/FilterSenderType"},
    "dl": {"type": "boolean"},
    "validity": {"type": "integer", "format": "int32", "minimum": 1},
    "receivedAfter": "DATE",
    "receivedBefore": "DATE",
    "operator": {"type": "string", "enum": ["AND", "OR", "NOT"], "x-go-type-name": "SearchOperator",
                 "x-enum-varnames": ["SearchOperatorAND", "SearchOperatorOR", "SearchOperatorNOT"]},
    "X-Ignore-MX": {"type": "string"},
    "X-Virus-Lover": {"type": "string"},
    ("ListPermissions", "id"): "ID",
    ("GetFolderContent", "id"): {"type": "string"},
    ("ListDomainAttachmentFilters", "action"): {"$ref": "#/components/schemas/FilterAttachmentAction"},
    ("ListDomainUriFilters", "action"): {"$ref": "#/components/schemas/FilterUriBlAction"},
}
# Parameter descriptions that the doc lacks or that need a complement.
PARAM_DESCRIPTIONS = {
    ("ListPermissions", "id"): "Id of the object (of the given scope) the permissions apply to.",
    ("GetEmailAttachments", "dl"): ("When true, download all the attachments as one zip archive "
                                    "(ImapMessageAttachmentList.archiveUri) instead of listing them."),
    ("DownloadEmailAttachmentPart", "dl"): ("When true, the part is sent as a download "
                                            "(`Content-Disposition: attachment`); otherwise inline, "
                                            "for display."),
    ("DeleteDomain", "X-Ignore-MX"): ("When present, skip the check of the domain's MX records."),
    ("UpdateDomain", "X-Ignore-MX"): ("When present, skip the check of the domain's MX records."),
    ("ReleaseEmail", "X-Virus-Lover"): ("Must be present to release an infected e-mail, and absent "
                                        "otherwise (see 412)."),
}
DATE_PARAM_NOTE = " (epoch milliseconds)."
DEFAULT_FIXUPS = {"Optional[AND]": "AND"}

# Fallback descriptions for operations the doc leaves without one.
OPERATION_DESCRIPTION_FALLBACKS = {
    "GetEmailAttachments": "List the attachments of an e-mail, or download them all as a zip archive (`dl=true`).",
    "DownloadEmailAttachmentPart": "Download one attachment (MIME part) of an e-mail.",
    "DownloadAttachment": "Download a file uploaded with POST /emails/attachments.",
    "GetEmailAlias": "Get an e-mail alias (group) and the addresses it targets.",
}
# Cleanups of doc text (artifacts of the doc generator).
TEXT_FIXUPS = [('\\"', '"')]

# Models whose description in the doc is only the name of a Java parameter.
MODEL_DESCRIPTION_OVERRIDES = {
    "DomainAdd": "Domain to create.",
    "DomainUpdate": "Changes to a domain; absent properties are left unchanged, null clears a nullable one.",
    "NewEmailAlias": "E-mail alias (group) to create.",
    "NewUser": "User account to create.",
    "Policy": "Filtering and storage policy of a domain.",
    "UpdateUser": "Changes to a user account; absent properties are left unchanged.",
    "SmtpMessage": "E-mail to send.",
    "PersonalTokenAdd": "Personal token to create.",
    "FilterUriBlAdd": "URI-BL filter rule to create.",
}

# Models whose field names the doc lost: names in table order.
LOST_FIELD_NAMES = {
    "ImapMessage": ["headers", "attachments", "id", "uri", "seen", "answered", "recent", "deleted",
                    "hasAttachments", "important", "sentDate", "subject", "from", "to", "cc", "bcc",
                    "size"],
    "ImapMessageContent": ["headers", "attachments", "id", "uri", "seen", "answered", "recent",
                           "deleted", "hasAttachments", "important", "sentDate", "subject", "from",
                           "to", "cc", "bcc", "size", "content", "source"],
    "ImapMessageAttachment": ["id", "name", "type", "size", "downloadUri", "displayUri"],
    "ImapMessageAttachmentList": ["items", "archiveUri", "count"],
}
# `id` fields that are not opaque ids (IMAP identifiers): plain strings.
NON_ID_FIELDS = {("ImapMessage", "id"), ("ImapMessageContent", "id"), ("ImapMessageAttachment", "id")}
# Integer `*Id` fields whose doc type is Integer but which are ids anyway.
EXTRA_ID_FIELDS = {("HealthResult", "ref")}
FIELD_DESCRIPTION_DEFAULTS = {("HealthResult", "ref"): "Reference (id) of the checked object"}

# Fields the examples show but the model tables lack (examples win).
EXTRA_FIELDS = {
    "FilterAttachment": [
        ("scope", {"type": "string", "description": "Domain (or mailbox) the rule belongs to."}, "filter"),
        ("priority", {"type": "integer", "format": "int32", "description": "Priority of the rule."}, "scope"),
    ],
    "FilterUriBl": [
        ("scope", {"type": "string", "description": "Domain (or mailbox) the rule belongs to."}, "id"),
        ("priority", {"type": "integer", "format": "int32", "description": "Priority of the rule."}, "filter"),
    ],
    "OptionDef": [
        ("group", {"type": "string", "description": "Group the option belongs to."}, "restricted"),
    ],
    "EmailAliasRecipient": [
        ("lastname", {"type": "string", "description": "Lastname of the user (only set if the address "
                      "match with an account of the current domain)"}, "firstname"),
    ],
    "PlatformDTO": [
        ("id", "ID", None),
    ],
}
# Field type overrides: (model, field) -> schema.
FIELD_TYPE_OVERRIDES = {
    ("DiagnosticEntryDTO", "health"): {"$ref": "#/components/schemas/EntityHealth"},
    # RelayCheckHealthDTO says String; same value sets as PlatformDTO's enums.
    ("RelayCheckHealthDTO", "apiType"): {"$ref": "#/components/schemas/ApiType"},
    ("RelayCheckHealthDTO", "authType"): {"$ref": "#/components/schemas/AuthType"},
}
# Field description overrides/complements.
FIELD_DESCRIPTION_OVERRIDES = {
    ("PlatformDTO", "authData"): ("Credentials of the authentication provider (AuthSettings). "
                                 "Write-only in spirit: never returned in clear, responses carry null. "
                                 "An empty string in a request means no settings."),
    ("PlatformDTO", "apiData"): ("Credentials of the remediation API (RemediationApiSettings). "
                                "Write-only in spirit: never returned in clear, responses carry null."),
    ("EntityHealth", "performedAt"): "Timestamp of the last check (epoch SECONDS, not milliseconds)",
    ("Option", "value"): "Option value for current scope; null when the scope sets none (parentValue applies).",
    ("Option", "parentValue"): ("Parent option value used if no scope value is defined: the value of the nearest "
                                "scope above (platform, customer, domain, user) that sets one, else the "
                                "option's default. Absent when there is neither."),
    ("DiagnosticEntryDTO", "health"): None,
}
# Variant models no operation references: folded into the description of the model
# that unites their fields (AuthSettings / RemediationApiSettings), then dropped.
VARIANT_MODELS = OrderedDict([
    ("AuthSettings", ("authType", OrderedDict([("imap", "AuthImapSettings"), ("ldap", "AuthLdapSettings"),
                                               ("oidc", "AuthOidcSettings"), ("entra", "AuthEntraSettings")]))),
    ("RemediationApiSettings", ("apiType", OrderedDict([("IMAP", "RemediationImapApiSettings"),
                                                        ("EXCHANGE", "RemediationEwsApiSettings"),
                                                        ("O365", "RemediationGraphApiSettings")]))),
])
# Required markers dropped because an example omits the field (examples win).
REQUIRED_DROPS = {("PlatformDTO", "apiType")}

# Enum components, keyed by the set of (normalised) values found in the doc.
ENUM_COMPONENTS = [
    ("Language", ["FR", "EN", "DE", "ES", "DA", "NB"], "Language of an account."),
    ("DomainStatus", ["ENABLED", "DISABLED", "DELETED", "PENDING"], "Status of a domain."),
    ("UserStatus", ["ENABLED", "DISABLED", "PENDING"], "Status of a user account."),
    ("WblistPriority", ["DOMAIN", "USER"],
     "Which filtering rules win when the domain's and the mailbox's rules conflict."),
    ("TransportType", ["SMTP", "SMTPS_ENCRYPT", "SMTPS_MAY"], "Protocol used to deliver messages to an SMTP server."),
    ("ApiType", ["IMAP", "EXCHANGE", "O365"], "Type of the remediation API of a mail server."),
    ("AuthType", ["local", "imap", "ldap", "oidc", "entra"], "Type of authentication provider."),
    ("MfaType", ["NONE", "TOTP"], "Multi-factor authentication type of an account."),
    ("FilterSenderType", ["ALLOW", "BLOCK", "PROTECTED"], "Action of a sender filtering rule."),
    ("FilterAttachmentAction", ["DENY", "ALLOW"], "Action of an attachment filtering rule."),
    ("FilterAttachmentCheckType", ["FILENAME", "CONTENTTYPE", "ARCHIVE-CONTENTTYPE", "ARCHIVE-FILENAME"],
     "Content an attachment filtering rule checks."),
    ("FilterUriBlAction", ["URIDNSBL_SKIP_DOMAIN", "WHITELIST_URI_HOST", "BLACKLIST_URI_HOST"],
     "Action of a URI-BL filtering rule."),
    ("EmailAliasRecipientType", ["USER", "EXTERNAL_ADDRESS", "ALIAS"], "Type of a recipient of an e-mail alias."),
    ("HealthCheckResult", ["OK", "ERROR", "ERROR_DKIM_MISSING_ENTRY", "ERROR_DKIM_INVALID_COUPLE",
                           "ERROR_MX_MISSING_ENTRY", "ERROR_MX_INVALID_ENTRY"], "Result of a health check."),
    ("OptionType", ["STRING", "TEXT", "COLOR", "EMAIL", "BOOL", "URL", "LIST", "DOC", "TIMEZONE", "HOST",
                    "CREDENTIALS", "PASSWORD"], "Datatype of the value of an option."),
    ("TaskCommand", ["send_welcome_mail", "send_token_mail", "send_password_reset_mail",
                     "send_spamfight_spam_mail", "send_spamfight_clean_mail", "remediate_message"],
     "Command of a task."),
    ("OptionScope", ["PLATFORM", "URL", "CUSTOMER", "DOMAIN", "USER"],
     "Scope an option can be set on: PLATFORM (OptionDef.ptfScope), URL (urlScope), CUSTOMER "
     "(customerScope), DOMAIN (domainScope), USER (userScope)."),
    ("WblistDecisionValue", ["ALLOW", "BLOCK", "NONE"],
     "Decision of the sender filtering rules: ALLOW or BLOCK when a rule matches, NONE otherwise."),
]
# Enums whose canonical spelling stays lower case (the doc's examples use it).
ENUM_KEEP_CASE = {"AuthType", "TaskCommand"}
# Values examples show but tables lack (examples win), or that the server's own data needs:
# component -> values.  INTEGER: options holding a number (the option catalog).
ENUM_EXTRA_VALUES = {"OptionType": ["INTEGER"]}
# Go constant names for enum values (x-enum-varnames): always prefixed with the type name, so
# that they stay stable when another enum with a common value is added.
ENUM_VARNAMES = True
ENUM_CASE_NOTE = ("Input is case-insensitive (normalised to the canonical spelling listed here); "
                  "output always uses the canonical spelling.")

# Request bodies the doc does not declare (or declares wrongly): operationId -> (schema, required).
BODY_OVERRIDES = {
    "AddDomainAttachmentFilter": ("FilterAttachmentAdd", True),
    "UpdateAttachmentFilter": ("FilterAttachmentUpdate", True),
    "UpdatePolicy": ("PolicyUpdate", True),
    "UpdateUriFilter": ("FilterUriBlUpdate", True),
    "UpdateEmailAlias": ("EmailAliasUpdate", True),
}
# Bodies documented as one model whose examples send an array of it.
BODY_IS_ARRAY = {"AddWblistEntries", "AddDomainWblistRules", "AddUserWblistRules",
                 "SetDomainWblistRules", "SetUserWblistRules"}
# Multipart bodies: operationId -> (schema, required).  The doc marks the body optional;
# UploadFileRequest.file is required, so the body is required.
MULTIPART_BODIES = {"UploadAttachment": ("UploadFileRequest", True)}

# Success responses for operations whose doc gives none and has no example.
SUCCESS_OVERRIDES = {
    "GetEmailAttachments": [("200", "Attachments of the e-mail, or a zip archive of them when `dl=true`.",
                             [("application/json", {"$ref": "#/components/schemas/ImapMessageAttachmentList"}),
                              ("application/zip", {"type": "string", "format": "binary"})],
                             ["Content-Disposition"])],
    "DownloadEmailAttachmentPart": [("200", "Content of the attachment, with its own Content-Type.",
                                     [("*/*", {"type": "string", "format": "binary"})],
                                     ["Content-Disposition"])],
    "DownloadAttachment": [("200", "Content of the uploaded file, with its own Content-Type.",
                            [("*/*", {"type": "string", "format": "binary"})],
                            ["Content-Disposition"])],
    "RunPlatformDiagnostic": [("201", "Created", "EntityHealth", [])],
    "TryRelayConfiguration": [("200", "OK", "HealthRecord", [])],
}

# Schemas added to the doc's models.
ID = "ID"        # placeholder: replaced by the inline id schema
DATE = "DATE"    # placeholder: replaced by the inline epoch-ms schema
EXTRA_SCHEMAS = OrderedDict([
    ("Problem", {
        "type": "object",
        "description": ("Error response (RFC 9457 problem details), served as application/problem+json. "
                        "Validation failures list the offending fields in `errors`."),
        "properties": OrderedDict([
            ("type", {"type": "string", "format": "uri-reference", "default": "about:blank",
                      "description": "URI reference identifying the problem type."}),
            ("title", {"type": "string", "description": "Short, human-readable summary of the problem type."}),
            ("status", {"type": "integer", "format": "int32", "minimum": 100, "maximum": 599,
                        "description": "HTTP status code."}),
            ("detail", {"type": "string", "description": "Explanation specific to this occurrence."}),
            ("instance", {"type": "string", "format": "uri-reference",
                          "description": "URI reference identifying this occurrence."}),
            ("errors", {"type": "array", "description": "Validation failures, one per offending field.",
                        "items": {"$ref": "#/components/schemas/ProblemFieldError"}}),
        ]),
        "additionalProperties": True,
        "example": OrderedDict([("type", "about:blank"), ("title", "Not Found"), ("status", 404),
                                ("detail", "Domain not found with given id"),
                                ("instance", "/domains/Eygdk")]),
    }),
    ("ProblemFieldError", {
        "type": "object",
        "description": "One validation failure.",
        "required": ["field", "message"],
        "properties": OrderedDict([
            ("field", {"type": "string", "description": "Offending field or parameter (JSON pointer or name)."}),
            ("message", {"type": "string", "description": "What is wrong with it."}),
        ]),
    }),
    ("FilterAttachmentAdd", {
        "type": "object",
        "description": "Attachment filter rule to create.",
        "required": ["action", "checkType", "filter"],
        "properties": "FROM:FilterAttachment:action,checkType,filter,description",
    }),
    ("ServiceStatus", {
        "type": "object",
        "description": "Health status of the service.",
        "required": ["status"],
        "properties": OrderedDict([
            ("status", {"type": "string", "description": "`ok` when healthy.", "example": "ok"}),
        ]),
    }),
    # --- Extensions ---
    ("Broker", {
        "type": "object",
        "description": "Broker: reseller owning customers.",
        "required": ["name"],
        "properties": OrderedDict([
            ("id", ID),
            ("name", {"type": "string", "description": "Name of the broker"}),
            ("description", {"type": "string", "nullable": True, "description": "Description of the broker"}),
            ("externalId", {"type": "string", "nullable": True,
                            "description": "External reference of your choice"}),
            ("createdAt", (DATE, "Creation date")),
        ]),
    }),
    ("PermissionNames", {
        "type": "array",
        "description": "Names of permissions (GET /security/permissions lists them).",
        "items": {"type": "string"},
    }),
    ("BrokerAdd", {
        "type": "object",
        "description": "Broker to create.",
        "required": ["name"],
        "properties": OrderedDict([
            ("name", {"type": "string", "minLength": 1, "description": "Name of the broker"}),
            ("description", {"type": "string", "description": "Description of the broker"}),
            ("externalId", {"type": "string", "description": "External reference of your choice"}),
        ]),
    }),
    ("CustomerAdd", {
        "type": "object",
        "description": "Customer to create.",
        "required": ["name"],
        "properties": OrderedDict([
            ("brokerId", (ID, "Id of the broker the customer belongs to")),
            ("name", {"type": "string", "minLength": 1, "description": "Name of the customer"}),
            ("description", {"type": "string", "description": "Description of the customer"}),
            ("externalId", {"type": "string", "description": "External reference of your choice"}),
        ]),
    }),
    ("OutgoingProviderAdd", {
        "type": "object",
        "description": "Outgoing provider to create.",
        "required": ["name", "spfProvider"],
        "properties": "FROM:OutgoingProvider:name,spfProvider,active",
        "defaults": {"active": True},
    }),
    ("WblistDecision", {
        "type": "object",
        "description": "Decision of the sender filtering rules for one sender and one mailbox.",
        "required": ["decision"],
        "properties": OrderedDict([
            ("decision", {"$ref": "#/components/schemas/WblistDecisionValue"}),
            ("rule", {"type": "object", "nullable": True,
                      "allOf": [{"$ref": "#/components/schemas/FilterSender"}],
                      "description": "The rule that decided (domain or mailbox rule, see "
                                     "Domain.wblistPriority); null when none matches."}),
            ("reason", {"type": "string", "description": "Human-readable explanation of the decision."}),
        ]),
    }),
])

# PATCH bodies derived from a model: name -> (base, excluded fields, nullable-source model, description).
DERIVED_UPDATE_SCHEMAS = OrderedDict([
    ("PolicyUpdate", ("Policy", ["id"], "Policy",
                      "Changes to a policy; absent properties are left unchanged.")),
    ("FilterAttachmentUpdate", ("FilterAttachmentAdd", [], "FilterAttachment",
                                "Changes to an attachment filter rule; absent properties are left unchanged.")),
    ("FilterUriBlUpdate", ("FilterUriBlAdd", [], "FilterUriBl",
                           "Changes to a URI-BL filter rule; absent properties are left unchanged.")),
    ("EmailAliasUpdate", ("NewEmailAlias", [], "EmailAlias",
                          "Changes to an e-mail alias; absent properties are left unchanged.")),
    ("PlatformUpdate", ("PlatformDTO", ["id"], "PlatformDTO",
                        "Changes to a platform; absent properties are left unchanged, null clears a "
                        "nullable one.")),
])
# PATCH bodies taken from the doc: all properties optional, nullable like the response model.
DOC_UPDATE_SCHEMAS = {"DomainUpdate": "Domain", "UpdateUser": "User", "AdminUpdate": "Admin"}

# Extension operations (same conventions as the documented ones).
EXTENSION_OPERATIONS = [
    dict(method="POST", path="/brokers", operationId="CreateBroker", summary="Create broker",
         description="Create a broker (reseller). Only sysadmin can create a broker.",
         body=("BrokerAdd", True), success=("201", "Broker"), errors=["403", "409", "422"]),
    dict(method="GET", path="/brokers", operationId="ListBrokers", summary="List brokers",
         description="Returns the list of brokers visible to the logged-in account.",
         paging=True, sort="name", filters=[("name", "Filter brokers by name")],
         success=("200", "List[Broker]"), errors=["403"]),
    dict(method="GET", path="/brokers/{brokerId}", operationId="GetBroker", summary="Get broker",
         description="Get an existing broker (the Location of a created one).",
         success=("200", "Broker"), errors=["403", "404"]),
    dict(method="POST", path="/customers", operationId="CreateCustomer", summary="Create customer",
         description="Create a customer, optionally attached to a broker.",
         body=("CustomerAdd", True), success=("201", "CustomerDTO"), errors=["403", "404", "409", "422"]),
    dict(method="GET", path="/customers", operationId="ListCustomers", summary="List customers",
         description="Returns the list of customers visible to the logged-in account.",
         paging=True, sort="name",
         filters=[("name", "Filter customers by name"), ("brokerId", "Filter customers by broker id"),
                  ("externalId", "Filter customers by external id")],
         success=("200", "List[CustomerDTO]"), errors=["403"]),
    dict(method="GET", path="/customers/{customerId}", operationId="GetCustomer", summary="Get customer",
         description="Get an existing customer.", success=("200", "CustomerDTO"), errors=["403", "404"]),
    dict(method="POST", path="/outgoing-providers", operationId="CreateOutgoingProvider",
         summary="Create outgoing provider",
         description=("Create an outgoing provider (third-party sending service, e.g. Microsoft 365), "
                      "to be enabled on domains with DomainAdd/DomainUpdate.outgoingProvidersIds."),
         body=("OutgoingProviderAdd", True), success=("201", "OutgoingProvider"), errors=["403", "409", "422"]),
    dict(method="GET", path="/outgoing-providers", operationId="ListOutgoingProviders",
         summary="List outgoing providers", description="Returns the list of outgoing providers.",
         paging=True, sort="name", filters=[("name", "Filter outgoing providers by name")],
         success=("200", "List[OutgoingProvider]"), errors=["403"]),
    dict(method="GET", path="/outgoing-providers/{outgoingProviderId}", operationId="GetOutgoingProvider",
         summary="Get outgoing provider", description="Get an existing outgoing provider (the Location of a created one).",
         success=("200", "OutgoingProvider"), errors=["403", "404"]),
    dict(method="GET", path="/platforms/{platformId}", operationId="GetPlatform", summary="Get platform",
         description="Get a platform (SMTP relay). Credentials (authData, apiData) are returned as null.",
         success=("200", "PlatformDTO"), errors=["403", "404"]),
    dict(method="PATCH", path="/platforms/{platformId}", operationId="UpdatePlatform", summary="Edit a platform",
         description=("Edit properties of an existing platform (SMTP relay). Apply changes only on specified "
                      "fields in request. Attributes which are not provided will not be updated; null clears "
                      "a nullable attribute."),
         body=("PlatformUpdate", True), success=("204", None), errors=["403", "404", "422"]),
    # Authorities on the objects above domains (the doc documents domain authorities only): an
    # authority on a customer or a broker covers every domain beneath it.
    dict(method="PUT", path="/customers/{customerId}/admins/{adminId}/authorities",
         operationId="SetCustomerAdminAuthorities", summary="Define customer admin access",
         description=("Give an existing administrator exactly these permissions on a customer, covering every "
                      "domain of the customer; an empty list removes the authority. Only sysadmin."),
         body=("PermissionNames", True), success=("204", None), errors=["403", "404", "422"]),
    dict(method="PUT", path="/brokers/{brokerId}/admins/{adminId}/authorities",
         operationId="SetBrokerAdminAuthorities", summary="Define broker admin access",
         description=("Give an existing administrator exactly these permissions on a broker, covering every "
                      "customer and domain beneath it; an empty list removes the authority. Only sysadmin."),
         body=("PermissionNames", True), success=("204", None), errors=["403", "404", "422"]),
    dict(method="GET", path="/options", operationId="ListOptionDefs", summary="List options",
         description=("Returns the catalog of options which can be set on a platform, customer, domain or "
                      "user (see POST /domains/{domainId}/options and POST /users/{userId}/options)."),
         paging=True, sort="name",
         filters=[("name", "Filter options by name"),
                  ("scope", "Only the options which can be set on this scope", "OPTION_SCOPE")],
         success=("200", "List[OptionDef]"), errors=["403"]),
    # Option values of the two scopes above domains, so that inheritance can be set up end to end
    # (the doc documents the domain and user scopes only).  Same bodies and answers as theirs.
    dict(method="GET", path="/options/platform", operationId="ListPlatformOptions",
         summary="List platform options",
         description=("Returns every option of the catalog which can be set on the platform scope (the whole "
                      "service), with its platform value; parentValue is the option's default."),
         success=("200", "List[Option]"), errors=["403"]),
    dict(method="POST", path="/options/platform", operationId="SetPlatformOption", summary="Set platform option",
         description=("Set an option value for the whole service: customers, domains and users inherit it "
                      "unless they set their own. Answers 201 when the option had no platform value, 200 "
                      "when it replaces one."),
         body=("OptionAdd", True), success=[("200", "Option"), ("201", "Option")], errors=["403", "422"]),
    dict(method="DELETE", path="/options/platform/{optionName}", operationId="DeletePlatformOption",
         summary="Delete platform option",
         description="Delete the platform value of an option. The option's default will be used.",
         success=("204", None), errors=["403", "404"]),
    dict(method="GET", path="/customers/{customerId}/options", operationId="ListCustomerOptions",
         summary="List customer options",
         description=("Returns every option of the catalog which can be set on the customer scope, with the "
                      "customer's value and the value inherited from the platform."),
         success=("200", "List[Option]"), errors=["403", "404"]),
    dict(method="POST", path="/customers/{customerId}/options", operationId="SetCustomerOption",
         summary="Set customer option",
         description=("Set an option value for a customer: its domains and their users inherit it unless they "
                      "set their own. Answers 201 when the option had no value for the customer, 200 when it "
                      "replaces one."),
         body=("OptionAdd", True), success=[("200", "Option"), ("201", "Option")], errors=["403", "404", "422"]),
    dict(method="DELETE", path="/customers/{customerId}/options/{optionName}", operationId="DeleteCustomerOption",
         summary="Delete customer option",
         description="Delete the customer value of an option. The value of the platform scope will be used.",
         success=("204", None), errors=["403", "404"]),
    dict(method="GET", path="/users/{userId}/wblist/decision", operationId="GetWblistDecision",
         summary="Get sender filtering decision",
         description=("Tells what the sender filtering rules of the user's mailbox and domain decide for a "
                      "sender, and which rule decides.\n\n"
                      "The algorithm:\n\n"
                      "1. The sender (an e-mail address, or a domain name) gives the rule values that match it, "
                      "most specific first: the address itself, then its domain, then each parent domain down "
                      "to two labels (`a@mail.example.com` is matched by rules on `a@mail.example.com`, "
                      "`mail.example.com` and `example.com`). Values compare case-insensitively.\n"
                      "2. Only active rules count: a rule whose `expireAt` has passed is ignored.\n"
                      "3. The mailbox and its domain each decide on their own, with their most specific "
                      "matching ALLOW or BLOCK rule; on the same value, BLOCK wins over ALLOW. PROTECTED rules "
                      "neither allow nor block.\n"
                      "4. When only one of the two decides, its rule is the decision. When both decide and "
                      "disagree, the domain's `wblistPriority` settles it: `USER` makes the mailbox's rule win, "
                      "`DOMAIN` the domain's (however specific the other rule). When they agree, the rule of "
                      "the priority side is reported.\n"
                      "5. No matching rule: `NONE`, and `rule` is null.\n\n"
                      "`reason` explains the decision in words (the rules involved, how they matched, and the "
                      "priority applied)."),
         required_query=[("sender", "E-mail address (or domain) of the sender", {"type": "string", "minLength": 1})],
         success=("200", "WblistDecision"), errors=["403", "404"]),
]
OPTION_SCOPE_SCHEMA = {"$ref": "#/components/schemas/OptionScope"}

SERVICE_PATHS = OrderedDict([
    ("/livez", {"get": OrderedDict([
        ("tags", ["Service"]),
        ("summary", "Liveness probe"),
        ("description", "Answers 200 while the process is alive. No authentication."),
        ("operationId", "Livez"),
        ("security", []),
        ("responses", OrderedDict([
            ("200", OrderedDict([
                ("description", "Alive"),
                ("content", OrderedDict([
                    ("application/json", OrderedDict([
                        ("schema", {"$ref": "#/components/schemas/ServiceStatus"}),
                        ("example", {"status": "ok"})])),
                    ("text/plain", OrderedDict([("schema", {"type": "string"}), ("example", "ok")])),
                ])),
            ])),
            ("400", {"$ref": "#/components/responses/BadRequest"}),
            ("500", {"$ref": "#/components/responses/InternalError"}),
        ])),
    ])}),
    ("/readyz", {"get": OrderedDict([
        ("tags", ["Service"]),
        ("summary", "Readiness probe"),
        ("description", "Answers 200 when the service can serve requests (database and mail servers "
                        "reachable), 503 otherwise. No authentication."),
        ("operationId", "Readyz"),
        ("security", []),
        ("responses", OrderedDict([
            ("200", OrderedDict([
                ("description", "Ready"),
                ("content", OrderedDict([
                    ("application/json", OrderedDict([
                        ("schema", {"$ref": "#/components/schemas/ServiceStatus"}),
                        ("example", {"status": "ok"})])),
                ])),
            ])),
            ("400", {"$ref": "#/components/responses/BadRequest"}),
            ("500", {"$ref": "#/components/responses/InternalError"}),
            ("503", {"$ref": "#/components/responses/ServiceUnavailable"}),
        ])),
    ])}),
])

# Reusable responses: name -> (status, description).
REUSABLE_RESPONSES = OrderedDict([
    ("BadRequest", ("400", "Invalid request: a parameter or the body does not match the contract "
                           "(see `errors`).")),
    ("Unauthorized", ("401", "Authentication missing or invalid.")),
    ("Forbidden", ("403", "You do not have permission to execute this request.")),
    ("NotFound", ("404", "Resource not found.")),
    ("Conflict", ("409", "The resource already exists or conflicts with an existing one.")),
    ("PayloadTooLarge", ("413", "Request body too large: it exceeds the server's limit (1 MiB for JSON by default, "
                                "CLEANMAIL_MAX_BODY; 25 MiB for uploads, CLEANMAIL_MAX_UPLOAD).")),
    ("UnprocessableEntity", ("422", "Operation cannot be done because of not met conditions.")),
    ("TooManyRequests", ("429", "Too many failed authentications from this client address or with this token "
                                "prefix: retry after the number of seconds in Retry-After.")),
    ("InternalError", ("500", "Internal error.")),
    ("NotImplemented", ("501", "Not implemented yet.")),
    ("ServiceUnavailable", ("503", "Service not ready: retry after the number of seconds in Retry-After.")),
])
STATUS_TO_RESPONSE = {v[0]: k for k, v in REUSABLE_RESPONSES.items()}
# Headers every error response of a status carries.
STATUS_HEADERS = {"401": ["WWW-Authenticate"], "429": ["Retry-After"], "503": ["Retry-After"]}
DEFAULT_SUCCESS_DESCRIPTIONS = {"200": "OK", "201": "Created", "202": "Accepted", "204": "No Content"}

# ---- Limits ------------------------------------------------------------------
# Every string schema has a maxLength and every array a maxItems (hardening
# issue "no request can freeze the server"): the validator refuses a longer
# value with a 400 naming it, before any handler runs.  The same components
# serve requests and responses, so each bound holds both ways: the server
# never answers beyond it either.  Lengths count characters (UTF-16 code
# units, as JSON Schema does), not bytes.
#
# A string's bound is looked up, in order: by (owner, name) in
# STRING_LIMITS_BY_OWNER, by name in STRING_LIMITS (PARAM_LIMITS for
# parameters, HEADER_LIMITS for response headers), then by kind: an enum is
# bounded by its values, a format in FORMAT_LIMITS, and binary contents
# (uploads, downloads, exports) by the body limits instead (413), which are
# configurable, so a schema length would only disagree with them.  owner is
# the component's name, or the operationId for bodies and parameters; name
# is the property or parameter, `name[]` for the items of an array, `body`
# and `response` for whole bodies.  Arrays are looked up the same way in
# ARRAY_LIMITS_BY_OWNER and ARRAY_LIMITS; a response body that is an array
# defaults to ITEMS_PAGE.  A string or array none of these bound stops the
# script: every new field gets a deliberate limit.

LEN_CODE = 64            # short codes and keys: permission names, object types, sort keys, MIME part ids
LEN_DOMAIN = 253         # a domain or host name in text form (RFC 1035), IP literals included
LEN_EMAIL = 254          # an e-mail address (RFC 5321's 256-octet path, less its angle brackets); logins
LEN_NAME = 255           # names, titles, display names, labels, file names, option names
LEN_FILTER = 255         # free filter and search query parameters
LEN_DESCRIPTION = 1000   # descriptions and comments
LEN_PASSWORD = 72        # account passwords: bcrypt reads no more than 72 bytes
LEN_SECRET = 1024        # credentials kept for other systems (LDAP, IMAP, OAuth): stored, not bcrypt-hashed
LEN_DN = 1024            # LDAP distinguished names and bind users
LEN_URL = 2048           # URLs a client sends (the URL option's own limit too)
LEN_BUILT_URI = 16384    # URIs the server builds from a user id, a folder path, a message id and a file
                         # name, percent-encoded (up to 9 characters per character of a path)
LEN_REGEXP = 1000        # attachment filter regular expressions
LEN_HEADER = 998         # one header line of a message (RFC 5322 2.1.1): subjects, Message-IDs
LEN_FOLDER = 1024        # an IMAP folder path: a few levels of folder names (Dovecot's Maildir++ keeps a
                         # whole path in one 255-byte directory name; other layouts 255 bytes per level)
LEN_OPTION_VALUE = 65535  # option values: the TEXT type takes 65,535 bytes (db/option_defs.go)
LEN_PEM = 16384          # PEM keys and certificate chains (a 4096-bit RSA key is 3.3 KB of PEM)
LEN_SIGN = 262144        # a user signature: base64 of 192 KiB of HTML
LEN_TEXT_LINE = 4096     # one line of diagnostic output, one DKIM TXT record, a decision's explanation
LEN_TOKEN = 4096         # a temporary token (JWT; about 600 characters in practice)
LEN_MAIL_BODY = 1048576  # HTML of a message sent with the API (attachments are uploaded apart)
LEN_MESSAGE = 67108864   # a stored message's content or source: three times the default mail size limit
                         # of a policy (21 MB); Policy.mailSizeLimit itself has no maximum

ITEMS_PAGE = 1000        # the largest page (PageSize maximum): every list a list operation answers
ITEMS_WBLIST = 10000     # sender rules of one request (a whole allow/block list replaced at once)
ITEMS_DOMAIN_ALIASES = 1000
ITEMS_RECIPIENTS = 1000  # targets of an e-mail alias; recipients of a message (Postfix's default
                         # smtpd_recipient_limit)
ITEMS_PERMISSIONS = 64   # the server knows 15 permissions
ITEMS_SUBNETS = 256
ITEMS_REFS = 100         # platforms of a domain, id lists, attachments of a message sent
ITEMS_CHECKS = 100       # health checks of one diagnostic, lines of output of one check

FORMAT_LIMITS = {"email": LEN_EMAIL, "uri": LEN_URL, "uri-reference": LEN_URL}

# Properties, by name.
STRING_LIMITS = {
    "advertPrefix": LEN_NAME, "prefixSpam": LEN_NAME,
    "archiveUri": LEN_BUILT_URI, "childrenUri": LEN_BUILT_URI, "messagesUri": LEN_BUILT_URI,
    "displayUri": LEN_BUILT_URI, "downloadUri": LEN_BUILT_URI, "uri": LEN_BUILT_URI,
    "base_dn": LEN_DN, "bind_user": LEN_DN,
    "bind_password": LEN_SECRET, "clientSecret": LEN_SECRET,
    "body": LEN_MAIL_BODY,
    "cert_pem": LEN_PEM, "privateKey": LEN_PEM, "publicKey": LEN_PEM,
    "clientId": LEN_NAME, "tenantId": LEN_NAME, "nameAttr": LEN_NAME, "mail_attribute": LEN_NAME,
    "username_format": LEN_NAME,
    "content": LEN_MESSAGE, "source": LEN_MESSAGE,
    "description": LEN_DESCRIPTION,
    "displayName": LEN_NAME, "firstname": LEN_NAME, "lastname": LEN_NAME, "externalId": LEN_NAME,
    "name": LEN_NAME, "objectName": LEN_NAME, "securedObjectName": LEN_NAME, "securedObjectClass": LEN_NAME,
    "title": LEN_NAME,
    "draftId": LEN_HEADER, "originId": LEN_HEADER, "subject": LEN_HEADER, "from": LEN_HEADER,
    "email": LEN_EMAIL, "login": LEN_EMAIL, "username": LEN_EMAIL, "owner": LEN_EMAIL, "testAccount": LEN_EMAIL,
    "scope": LEN_EMAIL,  # the domain or mailbox a filter rule belongs to
    "host": LEN_DOMAIN, "transportDest": LEN_DOMAIN, "fallbackTransportDest": LEN_DOMAIN,
    "selector": LEN_DOMAIN, "spfProvider": LEN_DOMAIN,
    "group": LEN_CODE, "objectType": LEN_CODE, "status": LEN_CODE,
    "issuerUri": LEN_URL,
    "parentValue": LEN_OPTION_VALUE,
    "password": LEN_PASSWORD,
    "path": LEN_FOLDER,
    "reason": LEN_TEXT_LINE,
    "sign": LEN_SIGN,
    "token": LEN_TOKEN,
    "uid": LEN_CODE,
    "url": LEN_TOKEN + 4096,  # https://APP_URL/?token=<token>
    # items of string arrays
    "recipients[]": LEN_EMAIL, "to[]": LEN_EMAIL, "cc[]": LEN_EMAIL, "bcc[]": LEN_EMAIL,
    "outgoingSubnets[]": LEN_CODE,  # an IPv6 prefix is at most 49 characters
    "permissions[]": LEN_CODE, "PermissionNames[]": LEN_CODE,
    "values[]": LEN_NAME,
    "output[]": LEN_TEXT_LINE,
}
# Properties whose meaning depends on their schema: (schema, name).
STRING_LIMITS_BY_OWNER = {
    ("Alias", "name"): LEN_DOMAIN, ("Domain", "name"): LEN_DOMAIN, ("DomainAdd", "name"): LEN_DOMAIN,
    ("DomainUpdate", "name"): LEN_DOMAIN,
    ("AclPermissionStatus", "name"): LEN_CODE, ("PermissionDTO", "name"): LEN_CODE,
    ("AttachmentFile", "type"): LEN_NAME, ("ImapMessageAttachment", "type"): LEN_NAME,  # RFC 6838: 127/127
    ("DiagnosticEntryDTO", "type"): LEN_CODE, ("HealthResult", "type"): LEN_CODE,
    ("AuthSettings", "scope"): LEN_SECRET,  # OAuth scopes, space-separated
    ("FilterAttachment", "filter"): LEN_REGEXP, ("FilterAttachmentAdd", "filter"): LEN_REGEXP,
    ("FilterAttachmentUpdate", "filter"): LEN_REGEXP,
    ("FilterUriBl", "filter"): LEN_DOMAIN, ("FilterUriBlAdd", "filter"): LEN_DOMAIN,
    ("FilterUriBlUpdate", "filter"): LEN_DOMAIN,
    ("FilterSender", "value"): LEN_EMAIL, ("FilterSenderAdd", "value"): LEN_EMAIL,
    ("FilterSenderItem", "value"): LEN_EMAIL,
    ("Option", "value"): LEN_OPTION_VALUE, ("OptionAdd", "value"): LEN_OPTION_VALUE,
    ("PersonalToken", "value"): LEN_CODE,  # 32 hexadecimal characters
    ("ImapMessage", "id"): LEN_HEADER, ("ImapMessageContent", "id"): LEN_HEADER,
    ("ImapMessageAttachment", "id"): LEN_CODE,
    ("RemediationApiSettings", "password"): LEN_SECRET,  # a mail server's password, not hashed by us
    # received mail: an address list entry may carry a display name
    ("ImapMessage", "to[]"): LEN_HEADER, ("ImapMessage", "cc[]"): LEN_HEADER, ("ImapMessage", "bcc[]"): LEN_HEADER,
    ("ImapMessageContent", "to[]"): LEN_HEADER, ("ImapMessageContent", "cc[]"): LEN_HEADER,
    ("ImapMessageContent", "bcc[]"): LEN_HEADER,
    # written by the server, which truncates them (pkg/api/problem.go)
    ("Problem", "detail"): 8192, ("Problem", "instance"): 8192,
    ("ProblemFieldError", "field"): LEN_NAME, ("ProblemFieldError", "message"): 1024,
    # request bodies and responses that are arrays of strings
    ("AddDomainAlias", "body[]"): LEN_DOMAIN, ("SetDomainAliases", "body[]"): LEN_DOMAIN,
    ("AddEmailAliasAddresses", "body[]"): LEN_EMAIL,
    ("SetDomainUsersAccess", "body[]"): LEN_CODE, ("SetDomainAdminAuthorities", "body[]"): LEN_CODE,
    ("AddDomainDkim", "response[]"): LEN_TEXT_LINE, ("GetDomainDkim", "response[]"): LEN_TEXT_LINE,
    ("UpdateDomainDkim", "response[]"): LEN_TEXT_LINE,
    ("Livez", "response"): LEN_CODE,
}
# Query, path and header parameters, by name (operationId, name wins).
PARAM_LIMITS = {
    "sort": LEN_CODE,
    "search": LEN_FILTER, "name": LEN_FILTER, "email": LEN_FILTER, "platformName": LEN_FILTER,
    "externalId": LEN_FILTER, "value": LEN_FILTER, "recipient": LEN_FILTER,
    "from": LEN_FILTER, "to": LEN_FILTER, "cc": LEN_FILTER, "subject": LEN_FILTER, "body": LEN_FILTER,
    "fields": LEN_FILTER,
    "scope": LEN_CODE, "partId": LEN_CODE, "uid": LEN_CODE,
    "X-Ignore-MX": LEN_CODE, "X-Virus-Lover": LEN_CODE,  # flags: only their presence counts
    "sender": LEN_EMAIL, "userId": LEN_EMAIL,  # an e-mail address (or a domain, or an id)
    "folderPath": LEN_FOLDER,
    "messageId": LEN_HEADER, "id": LEN_HEADER,  # a Message-ID (or an X-Fuglu-Id)
    "optionName": LEN_NAME, "filename": LEN_NAME,
}
PARAM_LIMITS_BY_OWNER = {}
# Response headers (components/headers), by name.
HEADER_LIMITS = {
    "Content-Disposition": LEN_TEXT_LINE,  # a file name, possibly percent-encoded (RFC 6266)
    "WWW-Authenticate": LEN_NAME,
}

ARRAY_LIMITS = {
    "attachments": ITEMS_REFS,
    "authorities": ITEMS_PAGE,  # one per domain, customer or broker the account holds permissions on
    "to": ITEMS_RECIPIENTS, "cc": ITEMS_RECIPIENTS, "bcc": ITEMS_RECIPIENTS,
    "recipients": ITEMS_RECIPIENTS,
    "domainAliases": ITEMS_DOMAIN_ALIASES,
    "entries": ITEMS_CHECKS, "output": ITEMS_CHECKS,
    "errors": 100,  # the server lists the first 100 (pkg/api/problem.go)
    "items": ITEMS_PAGE,  # attachments of a received message
    "outgoingProviders": ITEMS_REFS, "outgoingProvidersIds": ITEMS_REFS, "platforms": ITEMS_REFS,
    "outgoingSubnets": ITEMS_SUBNETS,
    "permissions": ITEMS_PERMISSIONS, "PermissionNames": ITEMS_PERMISSIONS,
    "values": ITEMS_PAGE,  # allowed values of a LIST option
}
ARRAY_LIMITS_BY_OWNER = {
    ("AddWblistEntries", "body"): ITEMS_WBLIST, ("AddDomainWblistRules", "body"): ITEMS_WBLIST,
    ("AddUserWblistRules", "body"): ITEMS_WBLIST, ("SetDomainWblistRules", "body"): ITEMS_WBLIST,
    ("SetUserWblistRules", "body"): ITEMS_WBLIST,
    ("AddDomainAlias", "body"): ITEMS_DOMAIN_ALIASES, ("SetDomainAliases", "body"): ITEMS_DOMAIN_ALIASES,
    ("AddEmailAliasAddresses", "body"): ITEMS_RECIPIENTS,
    ("SetDomainUsersAccess", "body"): ITEMS_PERMISSIONS, ("SetDomainAdminAuthorities", "body"): ITEMS_PERMISSIONS,
    # responses longer than a page: the rules or aliases a request created, all of them
    ("AddWblistEntries", "response"): ITEMS_WBLIST, ("AddDomainWblistRules", "response"): ITEMS_WBLIST,
    ("AddUserWblistRules", "response"): ITEMS_WBLIST, ("SetDomainWblistRules", "response"): ITEMS_WBLIST,
    ("SetUserWblistRules", "response"): ITEMS_WBLIST,
    ("AddDomainAlias", "response"): ITEMS_DOMAIN_ALIASES,
    # one TXT record per name: the domain and each of its aliases
    ("AddDomainDkim", "response"): ITEMS_DOMAIN_ALIASES + 1, ("GetDomainDkim", "response"): ITEMS_DOMAIN_ALIASES + 1,
    ("UpdateDomainDkim", "response"): ITEMS_DOMAIN_ALIASES + 1,
    # the permissions themselves
    ("ListPermissions", "response"): ITEMS_PERMISSIONS, ("GetDomainUsersAccess", "response"): ITEMS_PERMISSIONS,
}
# Sentences appended to the description of a bounded string whose bound needs explaining.
LIMIT_NOTES = {
    "password": ("At most 72 characters, and at most 72 bytes in UTF-8: bcrypt, which hashes it, reads no "
                 "further, so a longer password is refused (400)."),
    ("Option", "value"): "At most 65,535 bytes in UTF-8 (the TEXT type); other types take less (OptionDef.type).",
    ("OptionAdd", "value"): "At most 65,535 bytes in UTF-8 (the TEXT type); other types take less (OptionDef.type).",
}

# =============================================================================
# Parsing
# =============================================================================

SECTION_KEYWORDS = {"Description", "Parameters", "Path Parameters", "Query Parameters", "Body Parameter",
                    "Header Parameters", "Return Type", "Content Type", "Responses",
                    "Example HTTP request", "Example Curl request", "Example HTTP response"}
PARAM_TABLE_HEADER = "Name Description Required Default Pattern"
OP_HEADING = re.compile(r"^5\.(\d+)\.(\d+)\. (.+)$")
TAG_HEADING = re.compile(r"^5\.(\d+)\. (\S+)$")
MODEL_HEADING = re.compile(r"^6\.(\d+)\. (\S+)$")
METHOD_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)$")
BASIC_TYPES = {"Integer", "Long", "String", "Boolean", "Float", "Double", "Date", "Object", "File",
               "[String]"}
FORMATS = {"int32", "int64", "float", "double", "date-time", "date", "binary", "byte"}


def fixup(text):
    for a, b in TEXT_FIXUPS:
        text = text.replace(a, b)
    return text


def parse_doc(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    # split into op blocks and model blocks
    ops, models = [], []
    tag = None
    in_models = False
    cur = None
    for idx, line in enumerate(lines):
        if line == "6. Models":
            in_models = True
            if cur:
                ops.append(cur)
            cur = None
            continue
        if not in_models:
            m = TAG_HEADING.match(line)
            if m and not OP_HEADING.match(line):
                tag = m.group(2)
                if cur:
                    ops.append(cur)
                cur = None
                continue
            m = OP_HEADING.match(line)
            if m:
                if cur:
                    ops.append(cur)
                cur = {"tag": tag, "number": "5.%s.%s" % (m.group(1), m.group(2)),
                       "title": m.group(3).strip(), "lines": [], "line": idx + 1}
                continue
            if cur is not None:
                cur["lines"].append(line)
        else:
            m = MODEL_HEADING.match(line)
            if m:
                if cur:
                    models.append(cur)
                cur = {"name": m.group(2), "lines": []}
                continue
            if cur is not None:
                cur["lines"].append(line)
    if cur:
        (models if in_models else ops).append(cur)
    return [parse_op(o) for o in ops], OrderedDict((m["name"], parse_model(m)) for m in models)


def parse_param_table(cells, body=False):
    rows = []
    i = 0
    while i < len(cells):
        name = cells[i]
        i += 1
        desc = []
        while cells[i] not in ("X", "-"):
            desc.append(cells[i])
            i += 1
        required = cells[i] == "X"
        i += 1
        default = None
        if not body:
            default = cells[i]
            i += 1
        rows.append({"name": name, "description": " ".join(desc) or None, "required": required,
                     "default": default})
    return rows


def parse_op(o):
    lines = o["lines"]
    op = {"tag": o["tag"], "title": o["title"], "number": o["number"], "line": o["line"],
          "description": None, "params": {}, "content_types": [], "responses": [],
          "example_request": None, "example_response": None}
    # method line
    for l in lines:
        m = METHOD_LINE.match(l)
        if m:
            op["method"], op["doc_path"] = m.group(1), m.group(2)
            break
    else:
        raise ValueError("no method line in %s" % o["title"])
    section = None
    buf = OrderedDict()
    for l in lines:
        s = l.strip()
        if s in SECTION_KEYWORDS and l == s:
            section = s
            buf.setdefault(section, [])
            continue
        if section is None:
            continue
        buf[section].append(l)
    if "Description" in buf:
        text = " ".join(x.strip() for x in buf["Description"] if x.strip())
        op["description"] = fixup(text)
    for kind in ("Path Parameters", "Query Parameters", "Body Parameter", "Header Parameters"):
        if kind in buf:
            cells = [x.strip() for x in buf[kind] if x.strip()]
            assert cells[0] == PARAM_TABLE_HEADER, (o["title"], kind, cells[:2])
            op["params"][kind] = parse_param_table(cells[1:], body=(kind == "Body Parameter"))
    if "Content Type" in buf:
        op["content_types"] = [x.strip().lstrip("•").strip() for x in buf["Content Type"] if x.strip()]
    if "Responses" in buf:
        cells = [x.strip() for x in buf["Responses"] if x.strip()]
        assert cells[0].startswith("Table ") and cells[1] == "Code Message Datatype", o["title"]
        cells = cells[2:]
        assert len(cells) % 3 == 0, (o["title"], cells)
        for k in range(0, len(cells), 3):
            code, msg, dt = cells[k:k + 3]
            assert re.match(r"^\d{3}$", code), (o["title"], code)
            op["responses"].append({"code": code, "message": msg, "datatype": dt})
    if "Example HTTP request" in buf:
        op["example_request"] = parse_http_example(buf["Example HTTP request"], request=True)
    if "Example HTTP response" in buf:
        op["example_response"] = parse_http_example(buf["Example HTTP response"], request=False)
    return op


def parse_http_example(blines, request):
    # first line: request line or status line; headers until blank; then body
    blines = list(blines)
    while blines and not blines[0].strip():
        blines.pop(0)
    first = blines[0]
    rest = blines[1:]
    # duplicated status lines happen in the doc
    while rest and rest[0].startswith("HTTP/1.1 "):
        rest.pop(0)
    headers = []
    k = 0
    while k < len(rest) and rest[k].strip():
        headers.append(rest[k])
        k += 1
    body_text = "\n".join(rest[k:]).strip()
    ex = {"first": first, "headers": headers, "body": None}
    if request:
        m = re.match(r"^(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1$", first)
        assert m, first
        ex["method"], ex["target"] = m.group(1), m.group(2)
    else:
        m = re.match(r"^HTTP/1\.1 (\d{3}) ", first)
        assert m, first
        ex["status"] = m.group(1)
    if body_text:
        ex["body"] = json.loads(body_text, object_pairs_hook=OrderedDict)
    return ex


def is_type(cell, model_names):
    return (cell in BASIC_TYPES or cell in model_names or cell.startswith("List of ")
            or cell.startswith("Set of ") or cell.startswith("Map of ") or cell.startswith("[List] of "))


def parse_model(m):
    lines = m["lines"]
    cells = [x.strip() for x in lines if x.strip()]
    hdr = cells.index("Field Name Required Nullable Type Description Format")
    desc = " ".join(cells[:hdr]) or None
    return {"name": m["name"], "description": desc, "cells": cells[hdr + 1:]}


def split_model_fields(model, model_names):
    name, cells = model["name"], model["cells"]
    fields = []
    if name in LOST_FIELD_NAMES:
        i = 0
        while i < len(cells):
            desc = cells[i]
            typ = cells[i + 1]
            assert is_type(typ, model_names), (name, typ)
            i += 2
            fmt = None
            if i < len(cells) and cells[i] in FORMATS:
                fmt = cells[i]
                i += 1
            fields.append({"desc": desc, "type": typ, "format": fmt, "required": False, "enum": None})
        names = LOST_FIELD_NAMES[name]
        assert len(names) == len(fields), (name, len(names), len(fields))
        for f, fname in zip(fields, names):
            f["name"] = fname
        return fields

    def field_starts(j):
        if j >= len(cells) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", cells[j]):
            return False
        nxt = cells[j + 1] if j + 1 < len(cells) else None
        return nxt is not None and (nxt == "X" or is_type(nxt, model_names))

    i = 0
    while i < len(cells):
        assert field_starts(i), (name, cells[i:i + 3])
        f = {"name": cells[i], "required": False, "desc": None, "format": None, "enum": None}
        i += 1
        if cells[i] == "X":
            f["required"] = True
            i += 1
        f["type"] = cells[i]
        assert is_type(f["type"], model_names), (name, f)
        i += 1
        while i < len(cells) and not field_starts(i):
            c = cells[i]
            if c in FORMATS:
                f["format"] = c
            elif c.startswith("Enum:"):
                f["enum"] = c[len("Enum:"):]
            else:
                assert f["desc"] is None, (name, f, c)
                f["desc"] = c
            i += 1
        fields.append(f)
    return fields


# =============================================================================
# Schema building
# =============================================================================

def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def id_schema(description=None):
    s = OrderedDict([("type", "string"), ("minLength", 1), ("maxLength", ID_SCHEMA_MAXLEN)])
    s["description"] = description or "Opaque identifier"
    s["example"] = ID_EXAMPLE
    return s


def date_schema(description=None, seconds=False):
    unit = "epoch seconds" if seconds else "epoch milliseconds"
    s = OrderedDict([("type", "integer"), ("format", "int64")])
    if description:
        d = description.rstrip(".")
        s["description"] = d if "epoch" in d.lower() else "%s (%s)." % (d, unit)
    else:
        s["description"] = "Date (%s)." % unit
    return s


def with_description(schema, description):
    """Attach a description to a schema; $ref schemas are wrapped in allOf."""
    if description is None:
        return schema
    if "$ref" in schema:
        return OrderedDict([("description", description), ("allOf", [schema])])
    s = OrderedDict(schema)
    s["description"] = description
    return s


def normalise_enum(raw):
    vals = []
    for v in raw.split(","):
        v = v.strip()
        if not v:
            continue
        v = re.sub(r"\s*\(.*\)$", "", v)
        vals.append(v)
    return vals


def find_enum_component(vals):
    up = {v.upper() for v in vals}
    for cname, cvals, _ in ENUM_COMPONENTS:
        if up == {v.upper() for v in cvals}:
            return cname
    return None


def placeholder(spec):
    """Expand ID/DATE placeholders used in data tables."""
    if spec == ID:
        return id_schema()
    if spec == DATE:
        return date_schema()
    if isinstance(spec, tuple):
        kind, desc = spec
        return id_schema(desc) if kind == ID else date_schema(desc)
    return copy.deepcopy(spec)


def field_schema(model, f, model_names):
    name, typ, desc = f["name"], f["type"], f["desc"]
    key = (model, name)
    if key in FIELD_DESCRIPTION_OVERRIDES and FIELD_DESCRIPTION_OVERRIDES[key] is not None:
        desc = FIELD_DESCRIPTION_OVERRIDES[key]
    if desc is None:
        desc = FIELD_DESCRIPTION_DEFAULTS.get(key)
    desc = fixup(desc) if desc else desc
    if key in FIELD_TYPE_OVERRIDES:
        return with_description(copy.deepcopy(FIELD_TYPE_OVERRIDES[key]), desc)
    is_id_name = (name == "id" or (re.search(r"[a-z]Id$", name) and typ == "Integer")
                  or key in EXTRA_ID_FIELDS)
    if is_id_name and key not in NON_ID_FIELDS and typ in ("Integer", "String"):
        return id_schema(desc)
    if name.endswith("Ids") and typ == "List of [integer]":
        return OrderedDict([("type", "array"), ("description", desc),
                            ("items", id_schema())])
    if typ == "Date":
        return date_schema(desc, seconds=(key == ("EntityHealth", "performedAt")))
    if f["enum"] is not None:
        vals = normalise_enum(f["enum"])
        if vals:
            comp = find_enum_component(vals)
            assert comp, (model, name, vals)
            return with_description(ref(comp), desc)
    s = OrderedDict()
    if typ in ("Integer", "Long"):
        s["type"] = "integer"
        s["format"] = f["format"] or ("int64" if typ == "Long" else "int32")
    elif typ in ("Float", "Double"):
        s["type"] = "number"
        s["format"] = f["format"] or "float"
    elif typ in ("String", "[String]"):
        s["type"] = "string"
    elif typ == "Boolean":
        s["type"] = "boolean"
    elif typ == "File":
        s["type"] = "string"
        s["format"] = "binary"
    elif typ == "Object":
        s["type"] = "object"
        s["additionalProperties"] = True
    elif typ.startswith("Map of "):
        s["type"] = "object"
        s["additionalProperties"] = True
    elif typ.startswith(("List of ", "Set of ", "[List] of ")):
        inner = typ.split(" of ", 1)[1]
        s["type"] = "array"
        if desc:
            s["description"] = desc
        if inner == "[string]":
            s["items"] = {"type": "string"}
        elif inner == "[integer]":
            s["items"] = {"type": "integer", "format": "int32"}
        else:
            assert inner in model_names, (model, name, inner)
            s["items"] = ref(inner)
        return s
    elif typ in model_names:
        return with_description(ref(typ), desc)
    else:
        raise ValueError((model, name, typ))
    if desc:
        s["description"] = desc
    return s


def build_model_schemas(models):
    model_names = set(models)
    schemas = OrderedDict()
    for name, m in models.items():
        fields = split_model_fields(m, model_names)
        s = OrderedDict([("type", "object")])
        desc = MODEL_DESCRIPTION_OVERRIDES.get(name, m["description"])
        if desc:
            s["description"] = fixup(desc)
        props = OrderedDict()
        required = []
        for f in fields:
            props[f["name"]] = field_schema(name, f, model_names)
            if f["required"] and (name, f["name"]) not in REQUIRED_DROPS:
                required.append(f["name"])
        for fname, spec, after in EXTRA_FIELDS.get(name, []):
            sch = placeholder(spec)
            items = list(props.items())
            if after is None:
                items.insert(0, (fname, sch))
            else:
                pos = [k for k, _ in items].index(after) + 1
                items.insert(pos, (fname, sch))
            props = OrderedDict(items)
        if required:
            s["required"] = required
        s["properties"] = props
        schemas[name] = s
    return schemas


def enum_varnames(type_name, values):
    names = []
    for v in values:
        if v == v.upper():
            names.append(type_name + re.sub(r"[^A-Za-z0-9]", "", v))
        else:
            names.append(type_name + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", v) if w))
    return names


def enum_components():
    out = OrderedDict()
    for cname, vals, desc in ENUM_COMPONENTS:
        vals = list(vals) + [v for v in ENUM_EXTRA_VALUES.get(cname, []) if v not in vals]
        if cname not in ENUM_KEEP_CASE:
            assert all(v == v.upper() for v in vals), cname
        note = ENUM_CASE_NOTE
        if cname in ENUM_KEEP_CASE:
            note = ("Input is case-insensitive (normalised to the canonical spelling listed here, which is "
                    "lower case as in the reference examples); output always uses the canonical spelling.")
        out[cname] = OrderedDict([("type", "string"), ("description", desc + " " + note), ("enum", vals)])
        if ENUM_VARNAMES:
            out[cname]["x-enum-varnames"] = enum_varnames(cname, vals)
    return out


def expand_extra_schema(name, spec, schemas):
    s = OrderedDict()
    for k, v in spec.items():
        if k == "defaults":
            continue
        if k == "properties" and isinstance(v, str) and v.startswith("FROM:"):
            _, base, fields = v.split(":")
            props = OrderedDict()
            for f in fields.split(","):
                props[f] = copy.deepcopy(schemas[base]["properties"][f])
            for f, d in spec.get("defaults", {}).items():
                props[f]["default"] = d
            s[k] = props
        elif k == "properties":
            s[k] = OrderedDict((pk, placeholder(pv)) for pk, pv in v.items())
        else:
            s[k] = copy.deepcopy(v)
    if "required" in s and "properties" in s:
        s.move_to_end("properties")
    return s


# =============================================================================
# Operations
# =============================================================================

def rename_path(doc_path):
    specific = PATH_SPECIFIC_RENAMES.get(doc_path, {})

    def sub(m):
        n = m.group(1)
        return "{%s}" % specific.get(n, PATH_PARAM_RENAMES.get(n, n))
    return re.sub(r"\{([^}]+)\}", sub, doc_path), specific


def param_name(n, specific):
    return specific.get(n, PATH_PARAM_RENAMES.get(n, n))


def datatype_schema(dt):
    """Doc datatype -> (schema or None, is_list)."""
    if dt in ("[String]", "[Object]"):
        return None, False
    if dt == "[File]":
        return "BINARY", False
    if dt == "List[[string]]":
        return OrderedDict([("type", "array"), ("items", {"type": "string"})]), True
    m = re.match(r"^List\[(\w+)\]$", dt)
    if m:
        return OrderedDict([("type", "array"), ("items", ref(m.group(1)))]), True
    assert re.match(r"^\w+$", dt), dt
    return ref(dt), False


def path_param(name, op_id):
    desc = PATH_PARAM_DESCRIPTIONS[name]
    extra = PATH_PARAM_DESCRIPTION_EXTRA.get((op_id, name))
    if extra:
        desc = desc + " " + extra
    if name in NON_ID_PATH_PARAMS:
        schema = OrderedDict([("type", "string"), ("minLength", 1)])
        if name in PATH_PARAM_EXAMPLES:
            schema["example"] = PATH_PARAM_EXAMPLES[name]
    else:
        schema = OrderedDict([("type", "string"), ("minLength", 1), ("maxLength", ID_SCHEMA_MAXLEN)])
        schema["example"] = ID_EXAMPLE
    return OrderedDict([("name", name), ("in", "path"), ("description", desc), ("required", True),
                        ("schema", schema)])


def query_param_schema(op_id, name):
    spec = PARAM_SCHEMAS.get((op_id, name), PARAM_SCHEMAS.get(name))
    assert spec is not None, (op_id, name)
    if spec == "ID":
        s = OrderedDict([("type", "string"), ("minLength", 1), ("maxLength", ID_SCHEMA_MAXLEN)])
        s["example"] = ID_EXAMPLE
        return s
    if spec == "DATE":
        return OrderedDict([("type", "integer"), ("format", "int64")])
    return copy.deepcopy(spec)


def typed_default(schema, default):
    if default is None or default == "null":
        return None
    default = DEFAULT_FIXUPS.get(default, default)
    if schema.get("type") == "integer":
        return int(default)
    if schema.get("type") == "boolean":
        return default.lower() == "true"
    return default


def build_query_param(op_id, row, location="query"):
    name = row["name"]
    if location == "query" and name == "offset":
        return {"$ref": "#/components/parameters/Offset"}
    if location == "query" and name == "pageSize":
        return {"$ref": "#/components/parameters/PageSize"}
    schema = query_param_schema(op_id, name)
    desc = row["description"]
    if desc == name:  # "dl / dl": the doc repeats the name
        desc = None
    if (op_id, name) in PARAM_DESCRIPTIONS and PARAM_DESCRIPTIONS[(op_id, name)] is not None:
        desc = PARAM_DESCRIPTIONS[(op_id, name)]
    if schema.get("format") == "int64" and schema.get("type") == "integer" and name.startswith("received"):
        desc = (desc or "Date").rstrip(".") + DATE_PARAM_NOTE
    p = OrderedDict([("name", name), ("in", location)])
    if desc:
        p["description"] = desc
    p["required"] = bool(row["required"])
    d = typed_default(schema, row["default"])
    if d is not None:
        assert "$ref" not in schema, (op_id, name)
        schema["default"] = d
    p["schema"] = schema
    return p


def problem_response(description, extra_headers=None):
    r = OrderedDict([("description", description)])
    if extra_headers:
        r["headers"] = OrderedDict((h, {"$ref": "#/components/headers/" + h}) for h in extra_headers)
    r["content"] = OrderedDict([("application/problem+json", {"schema": ref("Problem")})])
    return r


# Errors the doc does not list but the operation can answer.
EXTRA_ERRORS = {
    "UpdateDomain": ["409"],   # renaming to a name already taken
    "UpdatePolicy": ["409"],   # renaming to a name the domain already uses
    "UpdateUser": ["409", "422"],  # an address already used; a policy or platform of another domain
    "UpdateAdmin": ["422"],        # disabling the last enabled sysadmin
    "DeleteAdmin": ["422"],        # deleting the last enabled sysadmin
    "CreateDomainAdmin": ["409", "422"],  # a login already used; an existing sysadmin account
    "ListPermissions": ["404"],    # an object that does not exist or is out of the caller's reach
    # An e-mail alias renamed to an address already taken; recipients that
    # would make an alias reach itself (a loop), when replaced or added.
    "UpdateEmailAlias": ["409", "422"],
    "AddEmailAliasAddresses": ["422"],
    # an option not enabled for the scope, or the domain is DELETED (read-only until restored)
    "SetDomainOption": ["422"],
    "DeleteDomainOption": ["422"],
    "SetUserOption": ["422"],
    "DeleteUserOption": ["422"],
    # A change that makes the rule identical to another one of its domain
    # (the issue's "409 for the same rule twice"; the doc's POST has it).
    "UpdateAttachmentFilter": ["409"],
    "UpdateUriFilter": ["409"],
    # Counts the server caps, so that every list it answers stays within its
    # declared maxItems: domain aliases of a domain (1,000), tokens of an
    # account (100), authorities of an account (1,000).
    "AddDomainAlias": ["422"],
    "SetDomainAliases": ["422"],
    "CreateToken": ["422"],
    "SetDomainAdminAuthorities": ["422"],
}


def build_doc_operation(op):
    path, specific = rename_path(op["doc_path"])
    key = (op["method"], path)
    assert key in OPERATION_IDS, key
    op_id = OPERATION_IDS[key]
    out = {"method": op["method"].lower(), "path": path, "operationId": op_id, "tag": op["tag"],
           "summary": op["title"], "description": op["description"] or OPERATION_DESCRIPTION_FALLBACKS[op_id],
           "doc": op}
    # parameters
    params = []
    path_names = re.findall(r"\{([^}]+)\}", path)
    doc_path_rows = {param_name(r["name"], specific): r for r in op["params"].get("Path Parameters", [])}
    assert set(doc_path_rows) == set(path_names), (op_id, doc_path_rows.keys(), path_names)
    for n in path_names:
        params.append(path_param(n, op_id))
    for row in op["params"].get("Query Parameters", []):
        params.append(build_query_param(op_id, row))
    for row in op["params"].get("Header Parameters", []):
        params.append(build_query_param(op_id, row, location="header"))
    out["params"] = params
    # request body
    body = None
    req_ex = op["example_request"]["body"] if op["example_request"] else None
    if op_id in MULTIPART_BODIES:
        sname, required = MULTIPART_BODIES[op_id]
        body = {"required": required, "media": "multipart/form-data", "schema": ref(sname), "example": None}
    elif op_id in BODY_OVERRIDES:
        sname, required = BODY_OVERRIDES[op_id]
        body = {"required": required, "media": "application/json", "schema": ref(sname), "example": req_ex}
    elif "Body Parameter" in op["params"]:
        (row,) = op["params"]["Body Parameter"]
        if row["description"] == "[string]":
            schema = OrderedDict([("type", "array"), ("items", {"type": "string"})])
        else:
            schema = ref(row["description"])
            if op_id in BODY_IS_ARRAY:
                assert isinstance(req_ex, list), op_id
                schema = OrderedDict([("type", "array"), ("items", schema)])
        body = {"required": row["required"], "media": "application/json", "schema": schema, "example": req_ex}
    else:
        assert req_ex is None, (op_id, "example body without a documented body")
    out["body"] = body
    # responses
    out["responses"] = build_doc_responses(op, op_id, bool(params) or body is not None)
    out["is_list"] = op["method"] == "GET" and any(r["datatype"].startswith("List[") for r in op["responses"])
    out["excel"] = "application/vnd.ms-excel" in op["content_types"]
    out["extra_errors"] = EXTRA_ERRORS.get(op_id, [])
    return out


def build_doc_responses(op, op_id, has_input):
    rows = op["responses"]
    ex = op["example_response"]
    ex_status = ex["status"] if ex else None
    datatypes = {r["datatype"] for r in rows}
    assert len(datatypes) == 1, (op_id, datatypes)
    (dt,) = datatypes
    success = OrderedDict()   # code -> (description, schema or None)
    errors = OrderedDict()    # code -> description (doc message)
    for r in rows:
        if r["code"].startswith("2"):
            success[r["code"]] = r["message"]
        else:
            errors[r["code"]] = r["message"]
    if op["method"] == "DELETE":
        # every documented DELETE example answers 204: deletes answer 204 No Content
        success = OrderedDict([("204", success.get("204", "No Content"))])
    if ex_status:
        if ex_status == "204" and "200" in success:
            del success["200"]
        if ex_status not in success:
            success[ex_status] = DEFAULT_SUCCESS_DESCRIPTIONS[ex_status]
    resp = OrderedDict()
    if op_id in SUCCESS_OVERRIDES:
        assert not success, (op_id, success)
        for code, desc, content, headers in SUCCESS_OVERRIDES[op_id]:
            resp[code] = ("OVERRIDE", desc, content, headers)
    else:
        if not success:
            assert op["method"] == "GET", (op_id, "no success response")
            success["200"] = "OK"
        schema, _ = datatype_schema(dt)
        for code, desc in success.items():
            sch = None if code == "204" else schema
            resp[code] = ("DOC", desc, sch, [])
    return {"success": resp, "errors": errors, "has_input": has_input,
            "example": ex}


def assemble_responses(o, secured=True):
    r = o["responses"]
    out = []
    for code, (kind, desc, content, headers) in r["success"].items():
        resp = OrderedDict([("description", desc)])
        hdrs = OrderedDict()
        if code == "201":
            hdrs["Location"] = {"$ref": "#/components/headers/Location"}
        if code == "200" and o.get("is_list"):
            hdrs["X-Total-Count"] = {"$ref": "#/components/headers/X-Total-Count"}
        if code == "200" and o.get("excel"):
            hdrs["Content-Disposition"] = {"$ref": "#/components/headers/Content-Disposition"}
        for h in headers:
            hdrs[h] = {"$ref": "#/components/headers/" + h}
        if hdrs:
            resp["headers"] = hdrs
        media = OrderedDict()
        if kind == "OVERRIDE" and isinstance(content, list):
            for mt, sch in content:
                media[mt] = OrderedDict([("schema", copy.deepcopy(sch))])
        else:
            sch = content
            if isinstance(sch, str) and sch != "BINARY":
                sch = ref(sch)
            if sch == "BINARY":
                media["*/*"] = OrderedDict([("schema", {"type": "string", "format": "binary"})])
            elif sch is not None:
                media["application/json"] = OrderedDict([("schema", copy.deepcopy(sch))])
        ex = r.get("example")
        if ex and ex["status"] == code and ex["body"] is not None:
            assert "application/json" in media, (o["operationId"], code)
            media["application/json"]["example"] = ex["body"]
        if code == "200" and o.get("excel"):
            media["application/vnd.ms-excel"] = OrderedDict(
                [("schema", {"type": "string", "format": "binary"})])
        if media:
            resp["content"] = media
        out.append((code, resp))
    errors = OrderedDict(r["errors"])
    doc_errors = set(errors)
    # Every operation reads a query string, which may not parse (or carry
    # text no database stores): a 400 whatever inputs it declares.
    if "400" not in errors:
        errors["400"] = None
    if secured and "401" not in errors:
        errors["401"] = None
    # The access rules answer 403 on any secured operation to a caller who
    # lacks the permission, and an id in the path that names nothing is a
    # 404, whatever the doc listed; the server answers 503 while starting.
    if secured and "403" not in errors:
        errors["403"] = None
    if any(p.get("in") == "path" for p in o.get("params") or []) and "404" not in errors:
        errors["404"] = None
    if secured:
        errors.setdefault("503", None)
    # The body limits answer 413 to any operation that reads a body; the
    # throttling of failed authentications answers 429 to any secured one.
    if o.get("body") is not None:
        errors.setdefault("413", None)
    if secured:
        errors.setdefault("429", None)
    for extra in o.get("extra_errors", []):
        if extra not in errors:
            errors[extra] = None
    errors.setdefault("500", None)
    errors.setdefault("501", None)
    for code, msg in errors.items():
        if msg is None:
            out.append((code, {"$ref": "#/components/responses/" + STATUS_TO_RESPONSE[code]}))
        else:
            out.append((code, problem_response(msg, STATUS_HEADERS.get(code))))
    out.sort(key=lambda kv: int(kv[0]))
    return OrderedDict(out)


def build_extension_operation(e):
    op_id = e["operationId"]
    path = e["path"]
    params = [path_param(n, op_id) for n in re.findall(r"\{([^}]+)\}", path)]
    for name, desc, schema in e.get("required_query", []):
        params.append(OrderedDict([("name", name), ("in", "query"), ("description", desc),
                                   ("required", True), ("schema", copy.deepcopy(schema))]))
    if e.get("paging"):
        params.append({"$ref": "#/components/parameters/Offset"})
        params.append({"$ref": "#/components/parameters/PageSize"})
    if e.get("sort"):
        params.append(OrderedDict([
            ("name", "sort"), ("in", "query"),
            ("description", "Define the sort applied on response. Prefix the field name by '-' to reverse the sort."),
            ("required", False), ("schema", OrderedDict([("type", "string"), ("default", e["sort"])]))]))
    for f in e.get("filters", []):
        name, desc = f[0], f[1]
        if len(f) > 2 and f[2] == "OPTION_SCOPE":
            schema = copy.deepcopy(OPTION_SCOPE_SCHEMA)
        elif name.endswith("Id") and name != "externalId":
            schema = query_param_schema(op_id, "customerId")  # id schema
        else:
            schema = {"type": "string"}
        params.append(OrderedDict([("name", name), ("in", "query"), ("description", desc),
                                   ("required", False), ("schema", schema)]))
    body = None
    if e.get("body"):
        sname, required = e["body"]
        body = {"required": required, "media": "application/json", "schema": ref(sname), "example": None}
    # success: one (code, datatype), or a list of them (e.g. 201 created, 200 replaced)
    successes = e["success"] if isinstance(e["success"], list) else [e["success"]]
    success = OrderedDict()
    is_list = False
    for code, dt in successes:
        sch = None
        if dt:
            sch, lst = datatype_schema(dt)
            is_list = is_list or lst
        success[code] = ("DOC", DEFAULT_SUCCESS_DESCRIPTIONS[code], sch, [])
    o = {"method": e["method"].lower(), "path": path, "operationId": op_id, "tag": "Extensions",
         "summary": e["summary"], "description": e["description"], "params": params, "body": body,
         "is_list": is_list and e["method"] == "GET", "excel": False, "extra_errors": e.get("errors", [])}
    o["responses"] = {"success": success,
                      "errors": OrderedDict(), "has_input": bool(params) or body is not None, "example": None}
    return o


def operation_object(o):
    res = OrderedDict()
    res["tags"] = [o["tag"]]
    res["summary"] = o["summary"]
    res["description"] = o["description"]
    res["operationId"] = o["operationId"]
    if o["params"]:
        res["parameters"] = o["params"]
    if o["body"]:
        b = o["body"]
        media = OrderedDict([("schema", copy.deepcopy(b["schema"]))])
        if b["example"] is not None:
            media["example"] = b["example"]
        res["requestBody"] = OrderedDict([("required", bool(b["required"])),
                                          ("content", OrderedDict([(b["media"], media)]))])
    res["responses"] = assemble_responses(o)
    return res


# =============================================================================
# Examples: nullability (examples win) and consistency checks
# =============================================================================

class Ctx:
    def __init__(self, schemas):
        self.schemas = schemas
        self.problems = []
        self.nullable_marks = []   # (owner schema dict, property name, where)

    def resolve(self, s):
        seen = 0
        while True:
            if "$ref" in s and "oneOf" in self.schemas[s["$ref"].split("/")[-1]]:
                return self.schemas[s["$ref"].split("/")[-1]]
            if "$ref" in s:
                s = self.schemas[s["$ref"].split("/")[-1]]
            elif "allOf" in s and len(s["allOf"]) == 1:
                s = s["allOf"][0]
            else:
                return s
            seen += 1
            assert seen < 10


def walk_example(ctx, schema, value, where):
    s = ctx.resolve(schema)
    if "oneOf" in s:
        return
    if value is None:
        return
    t = s.get("type")
    if isinstance(value, list):
        if t != "array":
            ctx.problems.append("%s: array where schema type is %s" % (where, t))
            return
        for k, v in enumerate(value):
            walk_example(ctx, s["items"], v, "%s[%d]" % (where, k))
    elif isinstance(value, dict):
        if t != "object":
            ctx.problems.append("%s: object where schema type is %s" % (where, t))
            return
        props = s.get("properties", {})
        if not s.get("additionalProperties"):
            for k in value:
                if k not in props:
                    ctx.problems.append("%s: field %r not in schema" % (where, k))
        for req in s.get("required", []):
            if req not in value:
                ctx.problems.append("%s: required field %r missing" % (where, req))
        for k, v in value.items():
            if k not in props:
                continue
            if v is None:
                ctx.nullable_marks.append((s, k, "%s.%s" % (where, k)))
            else:
                walk_example(ctx, props[k], v, "%s.%s" % (where, k))
    else:
        es = s
        if "enum" in es and value not in es["enum"]:
            ctx.problems.append("%s: value %r not in enum %s" % (where, value, es["enum"]))
        if t == "integer" and not isinstance(value, int):
            ctx.problems.append("%s: %r is not an integer" % (where, value))
        if t == "string" and not isinstance(value, str):
            ctx.problems.append("%s: %r is not a string" % (where, value))


def owner_name(schemas, owner):
    for n, s in schemas.items():
        if s is owner:
            return n
    return "?"


def make_nullable(schemas, owner, prop):
    """Mark owner.properties[prop] nullable, choosing the representation."""
    p = owner["properties"][prop]
    if "oneOf" in p or ("$ref" in p and "oneOf" in schemas[p["$ref"].split("/")[-1]]):
        return None  # a oneOf branch accepts null
    desc = p.get("description")
    if "$ref" in p or ("allOf" in p and len(p["allOf"]) == 1 and "type" not in p):
        r = p["$ref"] if "$ref" in p else p["allOf"][0]["$ref"]
        cname = r.split("/")[-1]
        comp = schemas[cname]
        if "enum" in comp:
            new = OrderedDict([("type", "string"), ("nullable", True)])
            new["description"] = (desc + " " if desc else "") + comp["description"]
            new["enum"] = list(comp["enum"]) + [None]
            new["x-go-type"] = cname  # replaced by "string" later if cname is not generated
            owner["properties"][prop] = new
            return "enum %s (inline, x-go-type)" % cname
        comp["nullable"] = True
        return "component %s nullable" % cname
    if p.get("nullable"):
        return None
    new = OrderedDict()
    anchor = "format" if "format" in p else "type"
    for k, v in p.items():
        new[k] = v
        if k == anchor:
            new["nullable"] = True
    if "nullable" not in new:
        new["nullable"] = True
    if "enum" in new and None not in new["enum"]:
        new["enum"] = list(new["enum"]) + [None]
    owner["properties"][prop] = new
    return "property"


# =============================================================================
# Limits: a maxLength on every string, a maxItems on every array
# =============================================================================

class Limits:
    """Applies the DATA section's limit tables to the finished document."""

    def __init__(self):
        self.done = {}       # (id(schema), keyword) -> value: a schema reached twice gets one bound
        self.used = set()    # table keys that bound something
        self.missing = []

    def put(self, s, key, value, where):
        prev = self.done.get((id(s), key))
        if prev is not None:
            assert prev == value, ("one schema, two bounds", where, prev, value)
            return
        self.done[(id(s), key)] = value
        if key in s:
            return  # set where the schema is made (ids)
        items = list(s.items())
        anchors = ("type", "format", "nullable", "minLength", "minItems")
        pos = max([i for i, (k, _) in enumerate(items) if k in anchors], default=-1) + 1
        items.insert(pos, (key, value))
        s.clear()
        s.update(items)

    def lookup(self, tables, keys):
        for table, key in zip(tables, keys):
            if key in table:
                self.used.add((id(table), key))
                return table[key]
        return None

    def note(self, s, owner, name):
        # A note by name explains the bound by name: not an owner's own bound.
        key = (owner, name) if (owner, name) in LIMIT_NOTES else name
        if (key == name and (owner, name) in STRING_LIMITS_BY_OWNER) or key not in LIMIT_NOTES \
                or ("note", id(s)) in self.done:
            return
        self.done[("note", id(s))] = True
        self.used.add((id(LIMIT_NOTES), key))
        text = LIMIT_NOTES[key]
        desc = s.get("description", "").rstrip()
        if desc and not desc.endswith("."):
            desc += "."
        s["description"] = (desc + " " + text) if desc else text

    def walk(self, s, owner, name, strings, where):
        """strings: (by owner, by name) tables for the strings under s."""
        if not isinstance(s, dict) or "$ref" in s:
            return
        for k in ("allOf", "oneOf", "anyOf"):
            for sub in s.get(k, []):
                self.walk(sub, owner, name, strings, where)
        t = s.get("type")
        if t == "string":
            if "enum" in s or s.get("format") == "binary" or "maxLength" in s:
                return  # bounded by its values, by the body limits, or where it is made
            n = self.lookup(strings, [(owner, name), name])
            if n is None:
                n = FORMAT_LIMITS.get(s.get("format"))
            if n is None:
                self.missing.append("string %s (owner %s, name %s)" % (where, owner, name))
                return
            self.put(s, "maxLength", n, where)
            self.note(s, owner, name)
        elif t == "array":
            n = self.lookup([ARRAY_LIMITS_BY_OWNER, ARRAY_LIMITS], [(owner, name), name])
            if n is None and name == "response":
                n = ITEMS_PAGE
            if n is None:
                self.missing.append("array %s (owner %s, name %s)" % (where, owner, name))
            else:
                self.put(s, "maxItems", n, where)
            self.walk(s["items"], owner, name + "[]", strings, where + "/items")
        elif t == "object" or "properties" in s:
            for k, v in s.get("properties", {}).items():
                self.walk(v, owner, k, strings, where + "/" + k)

    def apply(self, paths, components):
        props = [STRING_LIMITS_BY_OWNER, STRING_LIMITS]
        params = [PARAM_LIMITS_BY_OWNER, PARAM_LIMITS]
        for cname, s in components["schemas"].items():
            self.walk(s, cname, cname, props, "components/schemas/" + cname)
        for h, obj in components["headers"].items():
            self.walk(obj["schema"], "headers", h, [{}, HEADER_LIMITS], "components/headers/" + h)
        for pname, obj in components["parameters"].items():
            self.walk(obj["schema"], "parameters", obj["name"], params, "components/parameters/" + pname)
        for path, item in paths.items():
            for method, op in item.items():
                oid = op["operationId"]
                for prm in op.get("parameters", []):
                    if "$ref" not in prm:
                        self.walk(prm["schema"], oid, prm["name"], params, "%s %s" % (oid, prm["name"]))
                for mt, media in op.get("requestBody", {}).get("content", {}).items():
                    self.walk(media["schema"], oid, "body", props, "%s body %s" % (oid, mt))
                for code, r in op["responses"].items():
                    for mt, media in r.get("content", {}).items():
                        self.walk(media["schema"], oid, "response", props, "%s %s %s" % (oid, code, mt))
        tables = [STRING_LIMITS, STRING_LIMITS_BY_OWNER, PARAM_LIMITS, PARAM_LIMITS_BY_OWNER, HEADER_LIMITS,
                  ARRAY_LIMITS, ARRAY_LIMITS_BY_OWNER, LIMIT_NOTES]
        unused = ["%r" % (k,) for t in tables for k in t if (id(t), k) not in self.used]
        problems = self.missing + ["limit table entry bounds nothing: " + u for u in unused]
        if problems:
            print("\n".join(problems), file=sys.stderr)
            sys.exit("limits: every string and array needs a bound from the DATA section, and every entry a use")


# =============================================================================
# YAML output
# =============================================================================

class Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _str_representer(dumper, data):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


def _dict_representer(dumper, data):
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())


Dumper.add_representer(str, _str_representer)
Dumper.add_representer(OrderedDict, _dict_representer)
Dumper.add_representer(dict, _dict_representer)


# =============================================================================
# Main
# =============================================================================

METHOD_ORDER = ["get", "put", "post", "delete", "patch"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--doc", default=DEFAULT_DOC)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    ops, models = parse_doc(args.doc)
    # every "METHOD /path" line of section 5 that is not an example request line
    with open(args.doc, encoding="utf-8") as f:
        doc_lines = f.read().split("\n")
    raw = [l for l in doc_lines[:doc_lines.index("6. Models")] if METHOD_LINE.match(l)]
    assert len(raw) == len(ops) == 93, (len(raw), len(ops))
    assert sorted(raw) == sorted("%s %s" % (o["method"], o["doc_path"]) for o in ops)
    assert len(models) == 63, len(models)

    # ---- schemas ----
    schemas = build_model_schemas(models)
    for union, (selector, variants) in VARIANT_MODELS.items():
        lines = []
        for value, vname in variants.items():
            lines.append("%s=%s: %s (doc model %s)" % (selector, value, ", ".join(schemas[vname]["properties"]),
                                                        vname))
            del schemas[vname]
        schemas[union]["description"] = (schemas[union]["description"].rstrip(".")
                                         + ". Properties used per %s: " % selector + "; ".join(lines) + ".")
    enums = enum_components()
    for name, spec in EXTRA_SCHEMAS.items():
        schemas[name] = expand_extra_schema(name, spec, schemas)
    all_schemas = OrderedDict()
    all_schemas.update(schemas)
    all_schemas.update(enums)

    # ---- operations ----
    built = [build_doc_operation(op) for op in ops]
    assert len({o["operationId"] for o in built}) == 93
    assert set(o["operationId"] for o in built) == set(OPERATION_IDS.values())

    # authData: AuthSettings, or an empty string / null (the Create domain example sends "")
    all_schemas["PlatformAuthData"] = OrderedDict([
        ("description", FIELD_DESCRIPTION_OVERRIDES[("PlatformDTO", "authData")]),
        ("oneOf", [ref("AuthSettings"),
                   OrderedDict([("type", "string"), ("nullable", True), ("maxLength", 0),
                                ("description", "Empty string or null: no settings.")])]),
    ])
    all_schemas["PlatformDTO"]["properties"]["authData"] = ref("PlatformAuthData")

    # ---- derived update schemas (before example walk: the walk checks them too) ----
    for name, (base, excluded, _src, desc) in DERIVED_UPDATE_SCHEMAS.items():
        b = all_schemas[base]
        s = OrderedDict([("type", "object"), ("description", desc)])
        s["properties"] = OrderedDict((k, copy.deepcopy(v)) for k, v in b["properties"].items()
                                      if k not in excluded)
        all_schemas[name] = s

    # PATCH bodies from the doc: all properties optional
    for name in DOC_UPDATE_SCHEMAS:
        all_schemas[name].pop("required", None)

    # ---- examples: nullability and consistency ----
    ctx = Ctx(all_schemas)
    for o in built:
        op = o["doc"]
        if o["body"] and o["body"]["example"] is not None:
            walk_example(ctx, o["body"]["schema"], o["body"]["example"], "%s request" % o["operationId"])
        ex = op["example_response"]
        if ex and ex["body"] is not None:
            succ = o["responses"]["success"][ex["status"]]
            sch = succ[2]
            walk_example(ctx, sch, ex["body"], "%s response %s" % (o["operationId"], ex["status"]))
    if ctx.problems:
        print("\n".join(ctx.problems), file=sys.stderr)
        sys.exit("examples disagree with the schemas: add overrides in the DATA section")
    log = []
    seen = set()
    for owner, prop, where in ctx.nullable_marks:
        key = (id(owner), prop)
        if key in seen:
            continue
        seen.add(key)
        how = make_nullable(all_schemas, owner, prop)
        if how:
            log.append("nullable (example %s): %s.%s -> %s" % (where, owner_name(all_schemas, owner), prop, how))

    # ---- PATCH bodies: all optional, nullable like the response model ----
    def sync_nullable(upd, src):
        for k, v in list(upd["properties"].items()):
            sp = all_schemas[src]["properties"].get(k)
            if sp is not None and (sp.get("nullable") or (
                    "$ref" in sp and all_schemas[sp["$ref"].split("/")[-1]].get("nullable"))):
                upd["properties"][k] = copy.deepcopy(sp)
    for name, (base, excluded, src, desc) in DERIVED_UPDATE_SCHEMAS.items():
        sync_nullable(all_schemas[name], src)
        all_schemas[name].pop("required", None)
    for name, src in DOC_UPDATE_SCHEMAS.items():
        s = all_schemas[name]
        if name == "UpdateUser":
            # mfaType: NONE disables MFA; null has no meaning, keep it non-nullable
            keep = {"mfaType"}
        else:
            keep = set()
        for k in list(s["properties"]):
            sp = all_schemas[src]["properties"].get(k)
            if k in keep or sp is None:
                continue
            if sp.get("nullable"):
                s["properties"][k] = copy.deepcopy(sp)
        s.pop("required", None)
        s.move_to_end("properties")
    # ---- paths ----
    paths = OrderedDict()
    for e in EXTENSION_OPERATIONS:
        built.append(build_extension_operation(e))
    for o in built:
        paths.setdefault(o["path"], OrderedDict())[o["method"]] = operation_object(o)
    for p, item in SERVICE_PATHS.items():
        paths[p] = copy.deepcopy(item)
    paths = OrderedDict((p, OrderedDict(sorted(paths[p].items(), key=lambda kv: METHOD_ORDER.index(kv[0]))))
                        for p in sorted(paths))

    # ---- x-go-type: only reuse enum types oapi-codegen generates (referenced by $ref) ----
    text_refs = json.dumps([paths, {k: v for k, v in all_schemas.items()}], default=str)
    for sname, s in all_schemas.items():
        for pname, p in s.get("properties", {}).items():
            if isinstance(p, dict) and "x-go-type" in p:
                if ('"#/components/schemas/%s"' % p["x-go-type"]) not in text_refs:
                    p["x-go-type"] = "string"
                    log.append("x-go-type string: %s.%s (its enum type is not generated)" % (sname, pname))
    # drop enum components nothing references any more
    for cname in [c for c, _, _ in ENUM_COMPONENTS]:
        if ('"#/components/schemas/%s"' % cname) not in text_refs:
            del all_schemas[cname]
            log.append("enum component dropped (unreferenced): %s" % cname)

    # ---- components ----
    ordered_schemas = OrderedDict((k, all_schemas[k]) for k in sorted(all_schemas))
    components = OrderedDict()
    components["securitySchemes"] = OrderedDict([("bearerAuth", OrderedDict([
        ("type", "http"), ("scheme", "bearer"),
        ("description", "Personal tokens are 32 hexadecimal characters (POST /admins/{adminId}/tokens); "
                        "temporary tokens (GET /token) are JWTs."),
    ]))])
    components["parameters"] = OrderedDict([
        ("Offset", OrderedDict([("name", "offset"), ("in", "query"),
                                ("description", "Index of the first item to return, from 0."),
                                ("required", False),
                                ("schema", OrderedDict([("type", "integer"), ("format", "int32"),
                                                        ("minimum", 0), ("default", 0)]))])),
        ("PageSize", OrderedDict([("name", "pageSize"), ("in", "query"),
                                  ("description", "Maximum number of items returned."),
                                  ("required", False),
                                  ("schema", OrderedDict([("type", "integer"), ("format", "int32"),
                                                          ("minimum", 1), ("maximum", 1000),
                                                          ("default", 40)]))])),
    ])
    components["headers"] = OrderedDict([
        ("Content-Disposition", OrderedDict([
            ("description", "`attachment; filename=\"...\"` for downloads, `inline` for display."),
            ("required", False), ("schema", {"type": "string"})])),
        ("Location", OrderedDict([("description", "URL of the new resource."), ("required", True),
                                  ("schema", OrderedDict([("type", "string"), ("format", "uri-reference")]))])),
        ("Retry-After", OrderedDict([
            ("description", "Number of seconds to wait before sending the request again."),
            ("required", True),
            ("schema", OrderedDict([("type", "integer"), ("format", "int32"), ("minimum", 0),
                                    ("example", 30)]))])),
        ("WWW-Authenticate", OrderedDict([("description", "Authentication scheme to use (`Bearer`)."),
                                          ("required", True),
                                          ("schema", OrderedDict([("type", "string"),
                                                                  ("example", "Bearer realm=\"cleanmail\"")]))])),
        ("X-Total-Count", OrderedDict([
            ("description", "Total number of items matching the filters, regardless of paging"),
            ("required", True),
            ("schema", OrderedDict([("type", "integer"), ("format", "int64"), ("minimum", 0)]))])),
    ])
    responses = OrderedDict()
    for name, (code, desc) in REUSABLE_RESPONSES.items():
        responses[name] = problem_response(desc, STATUS_HEADERS.get(code))
    components["responses"] = responses
    components["schemas"] = ordered_schemas
    Limits().apply(paths, components)

    info = OrderedDict(INFO)
    info["description"] = INFO_DESCRIPTION
    spec = OrderedDict()
    spec["openapi"] = "3.0.3"
    spec["info"] = info
    spec["tags"] = [OrderedDict([("name", t), ("description", d)]) for t, d in TAG_DESCRIPTIONS.items()]
    spec["security"] = [OrderedDict([("bearerAuth", [])])]
    spec["paths"] = paths
    spec["components"] = components

    text = yaml.dump(spec, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100000, indent=2,
                     default_flow_style=False)
    header = ("# Cleanmail API contract (OpenAPI 3.0.3).\n"
              "# Bootstrapped from cleanmail-api-reference.txt by scripts/doc2openapi.py;\n"
              "# hand decisions are data in that script.\n")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(header + text)

    # ---- report ----
    tags = OrderedDict((t, 0) for t in TAG_DESCRIPTIONS)
    nops = 0
    for p, item in paths.items():
        for m, op in item.items():
            tags[op["tags"][0]] += 1
            nops += 1
    print("documented operations: %d" % len(ops))
    print("operations in contract: %d" % nops)
    for t, c in tags.items():
        print("  %-28s %d" % (t, c))
    for l in log:
        print(l)


if __name__ == "__main__":
    main()
