package api

import (
	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// rules declares, for every operation of openapi.yaml, what its caller
// needs and which object of its path it acts on. admit enforces it before
// the body is read and resolves that object once, for the handler
// (targetOf); the server refuses to start if an operation has none. The
// doc's "sysadmin required" operations are the sysadmin's; everything
// else names a permission on the object of its path (a sysadmin passes
// every check), or, for a list, the permission whose reach narrows it.
var rules = map[string]rule{
	// Service probes.
	"Livez":  public(),
	"Readyz": public(),

	// AccessControls.
	"ListAdmins":      listIn(PermGrant), // itself, and the admins within its GRANT reach
	"GetAdmin":        selfOrManager(),
	"UpdateAdmin":     selfOrManager(),
	"DeleteAdmin":     selfOrManager(),
	"ListPermissions": authenticated(), // the object of ?scope=&id=: permissionsOn decides

	// AuthenticationTokens: only a sysadmin or the admin itself.
	"CreateToken": selfOrSysadmin(),
	"ListTokens":  selfOrSysadmin(),
	"GetToken":    selfOrSysadmin(),
	"DeleteToken": selfOrSysadmin(),

	// Domains.
	"CreateDomain":              sysadminOnly(),
	"DeleteDomain":              sysadminOn(db.ObjectDomain),
	"ListDomains":               listIn(PermDomainRead),
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
	"AddDomainAlias":    onDomain(PermDomainEdit).worded(fault.DomainMayNotExist),
	"SetDomainAliases":  onDomain(PermDomainEdit).worded(fault.DomainMayNotExist),
	"DeleteDomainAlias": onDomain(PermDomainEdit),

	// DomainPolicies: reading is per domain, writing is the sysadmin's.
	"ListDomainPolicies": onDomain(PermDomainRead),
	"GetPolicy":          onObject(PermDomainRead, db.ObjectPolicy),
	"CreatePolicy":       sysadminOn(db.ObjectDomain),
	"UpdatePolicy":       sysadminOn(db.ObjectPolicy),
	"DeletePolicy":       sysadminOn(db.ObjectPolicy),

	// DomainsDKIM: the doc makes add, update and delete sysadmin-only.
	"GetDomainDkim":    onDomain(PermDKIM),
	"AddDomainDkim":    sysadminOn(db.ObjectDomain),
	"UpdateDomainDkim": sysadminOn(db.ObjectDomain),
	"DeleteDomainDkim": sysadminOn(db.ObjectDomain),

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
	"UpdateAttachmentFilter":      onObject(PermFilterEdit, db.ObjectAttachmentFilter),
	"DeleteAttachmentFilter":      onObject(PermFilterEdit, db.ObjectAttachmentFilter),

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
	"AddWblistEntries":       authenticated(), // each owner of the body: ruleEditDomainRules, ruleEditUserRules

	// FilteringRulesOnURI.
	"ListDomainUriFilters": onDomain(PermFilterRead),
	"AddDomainUriFilter":   onDomain(PermFilterEdit),
	"UpdateUriFilter":      onObject(PermFilterEdit, db.ObjectUriFilter),
	"DeleteUriFilter":      onObject(PermFilterEdit, db.ObjectUriFilter),

	// Health.
	"GetDomainHealth":       onDomain(PermHealth),
	"RunDomainDiagnostic":   onDomain(PermHealth),
	"ListHealthErrors":      listIn(PermHealth),
	"GetPlatformDiagnostic": onObject(PermHealth, db.ObjectPlatform),
	"RunPlatformDiagnostic": onObject(PermHealth, db.ObjectPlatform),
	"TryRelayConfiguration": sysadminOnly(),

	// Tasks: each command has its rule (taskRules), applied to its
	// recipient; a task is read by a sysadmin or its launcher (GetTask).
	"ExecuteTask":          authenticated(),
	"GetTask":              authenticated(),
	"SetPasswordWithToken": public(), // the link's token is the proof
	"ReleaseByLink":        public(), // the digest link's signed token is the proof

	// TemporaryAuthTokens: the user of ?username=, itself or IMPERSONATE (ruleImpersonate).
	"GetTemporaryAuthToken": authenticated(),

	// Users.
	"ListUsers":        listIn(PermUserRead),
	"CreateUser":       authenticated(), // the domain of the body: ruleCreateUserIn
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
	"CreateEmailAlias":          onDomain(PermUserEdit).worded(fault.DomainMayNotExist),
	"GetEmailAlias":             onDomain(PermUserRead),
	"UpdateEmailAlias":          onDomain(PermUserEdit),
	"AddEmailAliasAddresses":    onDomain(PermUserEdit),
	"DeleteEmailAliasRecipient": onDomain(PermUserEdit),
	"DeleteEmailAlias":          onObject(PermUserEdit, db.ObjectEmailAlias),

	// UsersSigns.
	"GetUserSign":    onUser(PermUserRead),
	"SetUserSign":    onUser(PermUserEdit),
	"DeleteUserSign": onUser(PermUserEdit),

	// Extensions: the hierarchy and catalogs, sysadmin only for now.
	"CreateBroker":                sysadminOnly(),
	"ListBrokers":                 sysadminOnly(),
	"GetBroker":                   sysadminOn(db.ObjectBroker),
	"CreateCustomer":              sysadminOnly(),
	"ListCustomers":               sysadminOnly(),
	"GetCustomer":                 sysadminOn(db.ObjectCustomer),
	"CreateOutgoingProvider":      sysadminOnly(),
	"ListOutgoingProviders":       sysadminOnly(),
	"GetOutgoingProvider":         sysadminOn(db.ObjectOutgoingProvider),
	"GetPlatform":                 sysadminOn(db.ObjectPlatform),
	"UpdatePlatform":              sysadminOn(db.ObjectPlatform),
	"ListOptionDefs":              authenticated(),
	"SetCustomerAdminAuthorities": sysadminOn(db.ObjectCustomer),
	"SetBrokerAdminAuthorities":   sysadminOn(db.ObjectBroker),
	// Option values above the domain: the whole service and a customer.
	"ListPlatformOptions":  sysadminOnly(),
	"GetPlatformOption":    sysadminOnly(),
	"SetPlatformOption":    sysadminOnly(),
	"DeletePlatformOption": sysadminOnly(),
	"ListCustomerOptions":  sysadminOn(db.ObjectCustomer),
	"GetCustomerOption":    sysadminOn(db.ObjectCustomer),
	"SetCustomerOption":    sysadminOn(db.ObjectCustomer),
	"DeleteCustomerOption": sysadminOn(db.ObjectCustomer),
}

// Rules of the objects a request names outside its path, in its body or
// query, which the handler applies to them (s.on) once it has read them.
var (
	// The domain of a new user (POST /users).
	ruleCreateUserIn = onDomain(PermUserEdit)
	// The owners of the rules of POST /wblist.
	ruleEditDomainRules = onDomain(PermFilterEdit)
	ruleEditUserRules   = onUser(PermFilterEdit)
	// The user of a temporary token (GET /token?username=), when it is not
	// the caller itself.
	ruleImpersonate = onUser(PermImpersonate)
	// Each recipient of a remediation (POST /tasks remediate_message):
	// pulling a message out of mailboxes is a filtering decision.
	ruleRemediate = onUser(PermFilterEdit)
)

// taskRules are the rules of POST /tasks, one per command, applied to the
// command's recipient (params.recipient). The token mail follows GET
// /token; it and the digests may also be launched by the user itself
// (selfServe, tasks.go).
var taskRules = map[gen.TaskCommand]rule{
	gen.TaskCommandSendWelcomeMail:        onUser(PermUserEdit),
	gen.TaskCommandSendPasswordResetMail:  onUser(PermUserEdit),
	gen.TaskCommandSendTokenMail:          ruleImpersonate,
	gen.TaskCommandSendSpamfightSpamMail:  onUser(PermQuarantineRead),
	gen.TaskCommandSendSpamfightCleanMail: onUser(PermQuarantineRead),
}
