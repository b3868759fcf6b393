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
)

// notFound is a resource's 404 detail: the doc's own wording where it has
// one ("Domain not found with given id", "Unknown user"), the same form
// otherwise.
func (r Resource) notFound() string {
	switch r {
	case "":
		return "Resource does not exist."
	case User:
		return "Unknown user"
	case AttachmentFilter:
		return "No attachment filter found with given id"
	case UriFilter:
		return "No uriBl filter found with given id"
	}
	name := string(r)
	return string(name[0]-'a'+'A') + name[1:] + " not found with given id"
}
