package db

// The GORM models mirror the tables of migrations/. Dates are epoch
// milliseconds, as the API speaks them. Nullable columns are pointers.

// Admin is an administrator account (sysadmin, or holder of authorities).
type Admin struct {
	ID                 int64 `gorm:"primaryKey"`
	Login              string
	Email              *string
	DisplayName        *string
	PasswordHash       *string
	Enabled            bool
	Language           *string
	Totp               bool
	SysAdmin           bool
	LastConnectionDate *int64
	CreatedAt          int64 `gorm:"autoCreateTime:false"`
}

// PersonalToken is a long-lived API token. Only a hash of its value is kept.
type PersonalToken struct {
	ID         int64 `gorm:"primaryKey"`
	AdminID    int64
	Name       string
	Hash       string
	Expiration *int64
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	LastUse    *int64
}

// Broker resells the service to customers.
type Broker struct {
	ID          int64 `gorm:"primaryKey"`
	Name        string
	Description *string
	ExternalID  *string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
}

// Customer owns domains.
type Customer struct {
	ID          int64 `gorm:"primaryKey"`
	BrokerID    *int64
	Name        string
	Description *string
	ExternalID  *string
	CreatedAt   int64 `gorm:"autoCreateTime:false"`
}

// Domain is a customer's mail domain filtered by the gateway.
type Domain struct {
	ID                 int64 `gorm:"primaryKey"`
	Name               string
	Description        *string
	Status             string
	WblistPriority     string
	DefaultLanguage    string
	AutoProvisioningOn bool
	SenderVerifyOn     bool
	ExternalID         *string
	PolicyID           *int64
	CustomerID         *int64
	OutgoingSubnets    []string `gorm:"serializer:json"`
	CreationDate       int64
	DeletionDate       *int64
	PurgeDate          *int64
}

// DomainName reserves a DNS name (a domain's or a domain alias's).
type DomainName struct {
	Name     string `gorm:"primaryKey"`
	DomainID int64
}

// DomainAlias is another DNS name under which a domain receives mail.
type DomainAlias struct {
	ID       int64 `gorm:"primaryKey"`
	DomainID int64
	Name     string
}

// Policy is a set of filtering services and their settings.
type Policy struct {
	ID              int64 `gorm:"primaryKey"`
	DomainID        int64
	Name            string
	Quarantine      bool
	Retention       bool
	Archive         bool
	Incoming        bool
	Outgoing        bool
	MailSizeLimit   int
	SpamScore       float64
	RelayProps      *RelayProps      `gorm:"serializer:json"`
	QuarantineProps *QuarantineProps `gorm:"serializer:json"`
	RetentionProps  *RetentionProps  `gorm:"serializer:json"`
	ArchiveProps    *ArchiveProps    `gorm:"serializer:json"`
}

// Policies is the table name GORM would not guess (policys).
func (Policy) TableName() string { return "policies" }

// RelayProps are a policy's delivery settings.
type RelayProps struct {
	RelaySpam           bool    `json:"relaySpam"`
	RelayAdvert         bool    `json:"relayAdvert"`
	AdvertPrefix        *string `json:"advertPrefix"`
	PrefixSpam          *string `json:"prefixSpam"`
	RelayBadHeaders     bool    `json:"relayBadHeaders"`
	RelayBadAttachments bool    `json:"relayBadAttachments"`
	SpamScoreLimit      float64 `json:"spamScoreLimit"`
}

// QuarantineProps are a policy's quarantine settings.
type QuarantineProps struct {
	Duration            int  `json:"duration"`
	StoreSpam           bool `json:"storeSpam"`
	StoreVirus          bool `json:"storeVirus"`
	StoreAdvert         bool `json:"storeAdvert"`
	StoreBlacklisted    bool `json:"storeBlacklisted"`
	StoreSenderVerify   bool `json:"storeSenderVerify"`
	StoreBadHeaders     bool `json:"storeBadHeaders"`
	StoreBadEncoding    bool `json:"storeBadEncoding"`
	StoreBadAttachments bool `json:"storeBadAttachments"`
}

// RetentionProps are a policy's retention settings.
type RetentionProps struct {
	Duration         int  `json:"duration"`
	StoreMailOut     bool `json:"storeMailOut"`
	StoreCleanMailIn bool `json:"storeCleanMailIn"`
}

// ArchiveProps are a policy's archive settings.
type ArchiveProps struct {
	Duration            int  `json:"duration"`
	ArchiveByCopy       bool `json:"archiveByCopy"`
	StoreMailOut        bool `json:"storeMailOut"`
	StoreCleanMailIn    bool `json:"storeCleanMailIn"`
	StoreSpam           bool `json:"storeSpam"`
	StoreBadHeaders     bool `json:"storeBadHeaders"`
	StoreBadEncoding    bool `json:"storeBadEncoding"`
	StoreBadAttachments bool `json:"storeBadAttachments"`
	StoreAdvert         bool `json:"storeAdvert"`
	StoreBlacklisted    bool `json:"storeBlacklisted"`
	StoreSenderVerify   bool `json:"storeSenderVerify"`
}

// Platform is a domain's mail server, where clean mail is relayed.
type Platform struct {
	ID                    int64 `gorm:"primaryKey"`
	DomainID              int64
	Name                  string
	TransportDest         string
	TransportType         string
	TransportPort         int
	FallbackTransportDest *string
	FallbackTransportType *string
	FallbackTransportPort *int
	APIType               *string
	APIData               *string
	AuthType              *string
	AuthData              *string
	IsDefault             bool
}

// OutgoingProvider is a third-party sending service a domain may relay through.
type OutgoingProvider struct {
	ID          int64 `gorm:"primaryKey"`
	Name        string
	SpfProvider string
	Active      bool
}

// DomainOutgoingProvider links a domain to an outgoing provider.
type DomainOutgoingProvider struct {
	DomainID           int64 `gorm:"primaryKey"`
	OutgoingProviderID int64 `gorm:"primaryKey"`
}

// User is a mailbox of a filtered domain.
type User struct {
	ID                 int64 `gorm:"primaryKey"`
	DomainID           int64
	Email              string
	Firstname          *string
	Lastname           *string
	Status             string
	Language           string
	PasswordHash       *string
	PolicyID           *int64
	PlatformID         *int64
	AuthID             *string
	SenderVerifyOn     bool
	MfaType            *string
	Sign               *string
	CreationDate       int64
	LastConnectionDate *int64
}

// MailAddress reserves a mail address (a mailbox's or an e-mail alias's).
type MailAddress struct {
	Address  string `gorm:"primaryKey"`
	DomainID int64
}

// Authority is what an administrator may do on one broker, customer or
// domain (exactly one of the three ids is set).
type Authority struct {
	ID          int64 `gorm:"primaryKey"`
	AdminID     int64
	BrokerID    *int64
	CustomerID  *int64
	DomainID    *int64
	Permissions []string `gorm:"serializer:json"`
}

// DomainUserAccess is the permissions a domain's end users hold on their
// own mailbox.
type DomainUserAccess struct {
	DomainID    int64    `gorm:"primaryKey"`
	Permissions []string `gorm:"serializer:json"`
}

// DomainUserAccess's table name is singular in the schema.
func (DomainUserAccess) TableName() string { return "domain_user_access" }

// EmailAlias is an address of a domain that forwards mail to its
// recipients (the doc's "group").
type EmailAlias struct {
	ID       int64 `gorm:"primaryKey"`
	DomainID int64
	Email    string
}

// EmailAliasRecipient is one address an e-mail alias forwards to. UserID is
// set for a USER recipient, TargetAliasID for an ALIAS one.
type EmailAliasRecipient struct {
	ID            int64 `gorm:"primaryKey"`
	AliasID       int64
	Email         string
	Type          string
	UserID        *int64
	TargetAliasID *int64
}
