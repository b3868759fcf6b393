package api

// rules declares, for every operation of openapi.yaml, what its caller
// needs. authorize enforces it before the handler runs; a test checks that
// every operation of the spec is here. The doc's "sysadmin required"
// operations are sysadminOnly; everything else names a permission on the
// object of its path (a sysadmin passes every check).
var rules = map[string]rule{
	// Service probes.
	"Livez":  public(),
	"Readyz": public(),

	// AccessControls.
	"ListAdmins":      authenticated(), // narrowed to itself and the admins within its GRANT reach
	"GetAdmin":        selfOrManager("adminId"),
	"UpdateAdmin":     selfOrManager("adminId"),
	"DeleteAdmin":     selfOrManager("adminId"),
	"ListPermissions": authenticated(), // limited to what the caller holds on the object

	// AuthenticationTokens: only a sysadmin or the admin itself.
	"CreateToken": selfOrSysadmin("adminId"),
	"ListTokens":  selfOrSysadmin("adminId"),
	"GetToken":    selfOrSysadmin("adminId"),
	"DeleteToken": selfOrSysadmin("adminId"),

	// Domains.
	"CreateDomain":              sysadminOnly(),
	"DeleteDomain":              sysadminOnly(),
	"ListDomains":               authenticated(), // narrowed to readable domains
	"GetDomain":                 onDomain(PermDomainRead),
	"UpdateDomain":              onDomain(PermDomainEdit),
	"GetDomainUsersAccess":      onDomain(PermGrant),
	"SetDomainUsersAccess":      onDomain(PermGrant),
	"ListDomainAdmins":          onDomain(PermGrant),
	"CreateDomainAdmin":         onDomain(PermGrant),
	"GetDomainAdmin":            onDomainAdmin(),
	"RevokeDomainAdmin":         onDomainAdmin(),
	"SetDomainAdminAuthorities": onDomainAdmin(),
	"ListDomainOptions":         onDomain(PermOptionRead),
	"GetDomainOption":           onDomain(PermOptionRead),
	"SetDomainOption":           onDomain(PermOptionEdit),
	"DeleteDomainOption":        onDomain(PermOptionEdit),

	// DomainAliases.
	"ListDomainAliases": onDomain(PermDomainRead),
	"AddDomainAlias":    onDomain(PermDomainEdit),
	"SetDomainAliases":  onDomain(PermDomainEdit),
	"DeleteDomainAlias": onDomain(PermDomainEdit),

	// DomainPolicies: reading is per domain, writing is the sysadmin's.
	"ListDomainPolicies": onDomain(PermDomainRead),
	"GetPolicy":          onObject(PermDomainRead, "policyId", "POLICY"),
	"CreatePolicy":       sysadminOnly(),
	"UpdatePolicy":       sysadminOnly(),
	"DeletePolicy":       sysadminOnly(),

	// DomainsDKIM: the doc makes add, update and delete sysadmin-only.
	"GetDomainDkim":    onDomain(PermDKIM),
	"AddDomainDkim":    sysadminOnly(),
	"UpdateDomainDkim": sysadminOnly(),
	"DeleteDomainDkim": sysadminOnly(),

	// Emails.
	"GetFolders":                  onUser(PermQuarantineRead),
	"GetFolder":                   onUser(PermQuarantineRead),
	"GetFolderContent":            onUser(PermQuarantineRead),
	"GetEmail":                    onUser(PermQuarantineRead),
	"GetEmailAttachments":         onUser(PermQuarantineRead),
	"DownloadEmailAttachmentPart": onUser(PermQuarantineRead),
	"ReleaseEmail":                onUser(PermQuarantineRelease),
	"SendEmail":                   onUser(PermMailSend),
	"UploadAttachment":            authenticated(), // uploads belong to their uploader
	"DownloadAttachment":          authenticated(),
	"DeleteAttachment":            authenticated(),

	// FilteringRulesOnAttachments.
	"ListDomainAttachmentFilters": onDomain(PermFilterRead),
	"AddDomainAttachmentFilter":   onDomain(PermFilterEdit),
	"UpdateAttachmentFilter":      onObject(PermFilterEdit, "attachmentId", "ATTACHMENT_FILTER"),
	"DeleteAttachmentFilter":      onObject(PermFilterEdit, "attachmentId", "ATTACHMENT_FILTER"),

	// FilteringRulesOnSenders.
	"ListDomainWblistRules":  onDomain(PermFilterRead),
	"AddDomainWblistRules":   onDomain(PermFilterEdit),
	"SetDomainWblistRules":   onDomain(PermFilterEdit),
	"UpdateDomainWblistRule": onDomain(PermFilterEdit),
	"DeleteDomainWblistRule": onDomain(PermFilterEdit),
	"ListUserWblistRules":    onUser(PermFilterRead),
	"AddUserWblistRules":     onUser(PermFilterEdit),
	"SetUserWblistRules":     onUser(PermFilterEdit),
	"UpdateUserWblistRule":   onUser(PermFilterEdit),
	"DeleteUserWblistRule":   onUser(PermFilterEdit),
	"GetWblistDecision":      onUser(PermFilterRead),
	"AddWblistEntries":       authenticated(), // each owner is checked by the handler

	// FilteringRulesOnURI.
	"ListDomainUriFilters": onDomain(PermFilterRead),
	"AddDomainUriFilter":   onDomain(PermFilterEdit),
	"UpdateUriFilter":      onObject(PermFilterEdit, "uriId", "URI_FILTER"),
	"DeleteUriFilter":      onObject(PermFilterEdit, "uriId", "URI_FILTER"),

	// Health.
	"GetDomainHealth":       onDomain(PermHealth),
	"RunDomainDiagnostic":   onDomain(PermHealth),
	"ListHealthErrors":      authenticated(), // narrowed to readable domains
	"GetPlatformDiagnostic": onObject(PermHealth, "platformId", "PLATFORM"),
	"RunPlatformDiagnostic": onObject(PermHealth, "platformId", "PLATFORM"),
	"TryRelayConfiguration": sysadminOnly(),

	// Tasks.
	"ExecuteTask": sysadminOnly(),

	// TemporaryAuthTokens: the user itself or IMPERSONATE, decided by the handler.
	"GetTemporaryAuthToken": authenticated(),

	// Users.
	"ListUsers":        authenticated(), // narrowed to readable domains
	"CreateUser":       authenticated(), // the domain is in the body: checked by the handler
	"GetUser":          onUser(PermUserRead),
	"UpdateUser":       onUser(PermUserEdit),
	"DeleteUser":       onUser(PermUserEdit),
	"ListDomainUsers":  onDomain(PermUserRead),
	"ListUserOptions":  onUser(PermOptionRead),
	"GetUserOption":    onUser(PermOptionRead),
	"SetUserOption":    onUser(PermOptionEdit),
	"DeleteUserOption": onUser(PermOptionEdit),

	// UsersAliases (e-mail aliases, the doc's groups).
	"ListDomainEmailAliases":    onDomain(PermUserRead),
	"CreateEmailAlias":          onDomain(PermUserEdit),
	"GetEmailAlias":             onDomain(PermUserRead),
	"UpdateEmailAlias":          onDomain(PermUserEdit),
	"AddEmailAliasAddresses":    onDomain(PermUserEdit),
	"DeleteEmailAliasRecipient": onDomain(PermUserEdit),
	"DeleteEmailAlias":          onObject(PermUserEdit, "groupId", "EMAIL_ALIAS"),

	// UsersSigns.
	"GetUserSign":    onUser(PermUserRead),
	"SetUserSign":    onUser(PermUserEdit),
	"DeleteUserSign": onUser(PermUserEdit),

	// Extensions: the hierarchy and catalogs, sysadmin only for now.
	"CreateBroker":                sysadminOnly(),
	"ListBrokers":                 sysadminOnly(),
	"GetBroker":                   sysadminOnly(),
	"CreateCustomer":              sysadminOnly(),
	"ListCustomers":               sysadminOnly(),
	"GetCustomer":                 sysadminOnly(),
	"CreateOutgoingProvider":      sysadminOnly(),
	"ListOutgoingProviders":       sysadminOnly(),
	"GetOutgoingProvider":         sysadminOnly(),
	"GetPlatform":                 sysadminOnly(),
	"UpdatePlatform":              sysadminOnly(),
	"ListOptionDefs":              authenticated(),
	"SetCustomerAdminAuthorities": sysadminOnly(),
	"SetBrokerAdminAuthorities":   sysadminOnly(),
	// Option values above the domain: the whole service and a customer.
	"ListPlatformOptions":  sysadminOnly(),
	"GetPlatformOption":    sysadminOnly(),
	"SetPlatformOption":    sysadminOnly(),
	"DeletePlatformOption": sysadminOnly(),
	"ListCustomerOptions":  sysadminOnly(),
	"GetCustomerOption":    sysadminOnly(),
	"SetCustomerOption":    sysadminOnly(),
	"DeleteCustomerOption": sysadminOnly(),
}
