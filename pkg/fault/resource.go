package fault

// Resource names a kind of object of the API, so that a failure about one
// is worded once, here, from the resource, and not at every call site.
type Resource string

// The resources of the API.
const (
	Domain           Resource = "domain"
	DomainAlias      Resource = "domain alias"
	Policy           Resource = "policy"
	Platform         Resource = "platform"
	User             Resource = "user"
	EmailAlias       Resource = "e-mail alias"
	Recipient        Resource = "recipient"
	Admin            Resource = "admin"
	Token            Resource = "token"
	Customer         Resource = "customer"
	Broker           Resource = "broker"
	OutgoingProvider Resource = "outgoing provider"
	WblistRule       Resource = "sender rule"
	AttachmentFilter Resource = "attachment filter"
	UriFilter        Resource = "URI filter"
	Option           Resource = "option"
	Folder           Resource = "folder"
	DomainHealth     Resource = "diagnostic of this domain"
	PlatformHealth   Resource = "diagnostic of this platform"
	MailMessage      Resource = "message"
	Upload           Resource = "uploaded file"
	DkimKey          Resource = "DKIM key"
	Task             Resource = "task"

	// Wordings of the doc for a 404 that is about more than one resource,
	// or that does not say which.
	DomainOrEmailAlias Resource = "domain or e-mail alias"
	DomainOrRule       Resource = "domain or rule"
	UserRule           Resource = "rule of this user"
	// DomainMayNotExist is the doc's 404 of some operations on a domain's
	// collections ("A problem occured. The domain may not exist").
	DomainMayNotExist Resource = "domain that may not exist"
	// Unreachable is an object that does not exist or that the caller
	// cannot know of: the two are told apart by nobody.
	Unreachable Resource = "resource within your reach"
)

// notFound is a resource's 404 detail: the doc's own wording where it has
// one ("Domain not found with given id", "Unknown user"), the same form
// otherwise.
func (r Resource) notFound() string {
	switch r {
	case "", Token:
		return "Resource does not exist."
	case User:
		return "Unknown user"
	case AttachmentFilter:
		return "No attachment filter found with given id"
	case UriFilter:
		return "No uriBl filter found with given id"
	case DomainHealth:
		return "This domain's diagnostic never ran (POST /domains/{domainId}/health runs it)"
	case PlatformHealth:
		return "This platform's diagnostic never ran (POST /platforms/{platformId}/health runs it)"
	case Folder:
		return "No folder has this path in this mailbox"
	case MailMessage:
		return "No message has this id in this folder"
	case Upload:
		return "File not found."
	case DkimKey:
		return "No DKIM values found. Or the domain may not exist"
	case UserRule:
		return "No rule of this user has this id"
	case DomainMayNotExist:
		return "A problem occured. The domain may not exist"
	case Unreachable:
		return "No such resource within your reach."
	}
	name := string(r)
	return string(name[0]-'a'+'A') + name[1:] + " not found with given id"
}
