package db

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
)

// Recipient types, as the API spells them.
const (
	RecipientUser     = "USER"
	RecipientAlias    = "ALIAS"
	RecipientExternal = "EXTERNAL_ADDRESS"
)

// EmailAliasView is an e-mail alias with its recipients, ordered by address.
type EmailAliasView struct {
	EmailAlias
	Recipients []RecipientView
}

// RecipientView is a recipient as the API shows it: a USER recipient shows
// the user's current address and names, an ALIAS recipient the current
// address of the alias it names.
type RecipientView struct {
	ID        int64
	AliasID   int64
	Email     string
	Type      string
	Firstname *string
	Lastname  *string
}

// EmailAliasFilter holds the documented filters of the alias list.
type EmailAliasFilter struct {
	// Email matches the alias's address.
	Email Match
	// Recipient keeps the aliases with at least one matching recipient.
	Recipient Match
}

// EmailAliasList declares the alias list's sort fields.
var EmailAliasList = ListSpec{
	Table:       "email_aliases",
	DefaultSort: "email",
	Sorts: map[string]string{
		"id":    "email_aliases.id",
		"email": "lower(email_aliases.email)",
	},
}

// recipientEmail is a recipient's address as shown: what it names, when it
// names a user or an alias (which may have been renamed since), else its own.
const recipientEmail = "COALESCE(users.email, targets.email, email_alias_recipients.email)"

// recipientJoins brings in what USER and ALIAS recipients name.
const recipientJoins = "LEFT JOIN users ON users.id = email_alias_recipients.user_id " +
	"LEFT JOIN email_aliases targets ON targets.id = email_alias_recipients.target_alias_id"

// aliasGraphLock is the PostgreSQL advisory lock key that serialises the
// writes to the graph of aliases (creating, renaming, deleting, adding
// recipients). Two transactions that each add one edge of a loop
// would otherwise both pass the loop check, each blind to the other's
// uncommitted edge. SQLite already runs one writer at a time.
const aliasGraphLock int64 = 0x656d61696c616c // "emailal"

func (s *Store) lockAliasGraph(tx *gorm.DB) error {
	if s.dialect != Postgres {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(?)", aliasGraphLock).Error
}

// CreateEmailAlias stores an alias of the domain with its recipients, all
// or nothing. email and recipients must be valid, lower-case addresses.
// The address must belong to the domain or one of its domain aliases
// (ErrInvalid); an address already used by a user or an alias gives
// ErrConflict, decided by the primary key of mail_addresses; recipients
// that lead back to the alias give ErrUnprocessable.
func (s *Store) CreateEmailAlias(ctx context.Context, domainID int64, email string, recipients []string) (*EmailAliasView, error) {
	var out *EmailAliasView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAliasGraph(tx); err != nil {
			return err
		}
		if err := domainMustExist(tx, domainID); err != nil {
			return err
		}
		if err := addressOfDomain(tx, domainID, email); err != nil {
			return err
		}
		if err := tx.Create(&MailAddress{Address: email, DomainID: domainID}).Error; err != nil {
			return err
		}
		a := EmailAlias{DomainID: domainID, Email: email}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		// Aliases that already list this address now list this alias.
		if err := claimRecipients(tx, email); err != nil {
			return err
		}
		if err := addRecipients(tx, a, recipients); err != nil {
			return err
		}
		if err := refuseLoop(tx, a); err != nil {
			return err
		}
		var err error
		out, err = loadEmailAliasView(tx, a)
		return err
	})
	return out, err
}

// addressOfDomain checks that the domain part of email is the domain's
// name or one of its domain aliases (both are in domain_names).
func addressOfDomain(tx *gorm.DB, domainID int64, email string) error {
	domain := email[strings.LastIndexByte(email, '@')+1:]
	var n int64
	if err := tx.Model(&DomainName{}).Where("name = ? AND domain_id = ?", domain, domainID).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return fault.Fail(fault.Invalid, "email", "the address's domain "+domain+" is neither this domain nor one of its domain aliases")
	}
	return nil
}

// claimRecipients retypes the EXTERNAL_ADDRESS recipients whose address has
// just become a mailbox or an e-mail alias served here: they were typed
// when they were added, and a USER or ALIAS recipient must reference what
// it names (for the cascades and the loop check). A USER recipient names
// a mailbox of its own alias's domain only. Call it in the transaction
// that reserves address.
func claimRecipients(tx *gorm.DB, address string) error {
	err := tx.Exec(`UPDATE email_alias_recipients
		SET type = ?, target_alias_id = (SELECT id FROM email_aliases WHERE email = ?)
		WHERE email = ? AND type = ? AND EXISTS (SELECT 1 FROM email_aliases WHERE email = ?)`,
		RecipientAlias, address, address, RecipientExternal, address).Error
	if err != nil {
		return err
	}
	return tx.Exec(`UPDATE email_alias_recipients
		SET type = ?, user_id = (SELECT users.id FROM users JOIN email_aliases owner ON owner.domain_id = users.domain_id
			WHERE owner.id = email_alias_recipients.alias_id AND lower(users.email) = ?)
		WHERE email = ? AND type = ? AND EXISTS (SELECT 1 FROM users JOIN email_aliases owner ON owner.domain_id = users.domain_id
			WHERE owner.id = email_alias_recipients.alias_id AND lower(users.email) = ?)`,
		RecipientUser, address, address, RecipientExternal, address).Error
}

// addRecipients adds the addresses a does not list yet, each typed by what
// it names now: a mailbox of a's domain, an e-mail alias, or neither.
func addRecipients(tx *gorm.DB, a EmailAlias, emails []string) error {
	if len(emails) == 0 {
		return nil
	}
	var listed []string
	if err := tx.Model(&EmailAliasRecipient{}).Where("alias_id = ?", a.ID).Pluck("email", &listed).Error; err != nil {
		return err
	}
	skip := make(map[string]bool, len(listed)+len(emails))
	for _, e := range listed {
		skip[e] = true
	}
	var fresh []string
	for _, e := range emails {
		e = strings.ToLower(e)
		if !skip[e] {
			skip[e] = true
			fresh = append(fresh, e)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if n := len(listed) + len(fresh); n > MaxAliasRecipients {
		return fault.Fail(fault.Unprocessable, "", fmt.Sprintf("an e-mail alias's recipients: at most %d (this would make %d)", MaxAliasRecipients, n))
	}
	var users []User
	if err := tx.Select("id, email").Where("domain_id = ? AND lower(email) IN ?", a.DomainID, fresh).Find(&users).Error; err != nil {
		return err
	}
	userIDs := make(map[string]int64, len(users))
	for _, u := range users {
		userIDs[strings.ToLower(u.Email)] = u.ID
	}
	var aliases []EmailAlias
	if err := tx.Select("id, email").Where("email IN ?", fresh).Find(&aliases).Error; err != nil {
		return err
	}
	aliasIDs := make(map[string]int64, len(aliases))
	for _, t := range aliases {
		aliasIDs[t.Email] = t.ID
	}
	rows := make([]EmailAliasRecipient, len(fresh))
	for i, e := range fresh {
		r := EmailAliasRecipient{AliasID: a.ID, Email: e, Type: RecipientExternal}
		if id, ok := userIDs[e]; ok {
			r.Type, r.UserID = RecipientUser, &id
		} else if id, ok := aliasIDs[e]; ok {
			r.Type, r.TargetAliasID = RecipientAlias, &id
		}
		rows[i] = r
	}
	return tx.Create(&rows).Error
}

// refuseLoop fails with ErrUnprocessable when a reaches itself through its
// ALIAS recipients. A write that adds edges only out of a, or only into a,
// can close a loop only through a, so checking a is enough. The detail
// names a's recipients that lead back to it.
func refuseLoop(tx *gorm.DB, a EmailAlias) error {
	var via []string
	err := tx.Raw(`WITH RECURSIVE reach(root, id) AS (
			SELECT id, target_alias_id FROM email_alias_recipients
			WHERE alias_id = ? AND target_alias_id IS NOT NULL
			UNION
			SELECT reach.root, r.target_alias_id FROM email_alias_recipients r
			JOIN reach ON r.alias_id = reach.id
			WHERE r.target_alias_id IS NOT NULL
		)
		SELECT email FROM email_alias_recipients
		WHERE id IN (SELECT root FROM reach WHERE id = ?)
		ORDER BY email`, a.ID, a.ID).Scan(&via).Error
	if err != nil {
		return err
	}
	if len(via) == 0 {
		return nil
	}
	return fault.Fail(fault.Unprocessable, "recipients",
		"the alias "+a.Email+" would reach itself through "+strings.Join(via, ", ")+" (a loop)")
}

// aliasOfDomain loads an alias of the domain: ErrNotFound when the domain
// has no alias with this id.
func aliasOfDomain(tx *gorm.DB, domainID, aliasID int64) (EmailAlias, error) {
	var a EmailAlias
	err := tx.Where("id = ? AND domain_id = ?", aliasID, domainID).First(&a).Error
	return a, err
}

// GetEmailAlias loads an alias of the domain with its recipients.
func (s *Store) GetEmailAlias(ctx context.Context, domainID, aliasID int64) (*EmailAliasView, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	a, err := aliasOfDomain(gdb, domainID, aliasID)
	if err != nil {
		return nil, translate(err)
	}
	v, err := loadEmailAliasView(gdb, a)
	return v, translate(err)
}

// ListEmailAliases returns one page of the domain's aliases, with their
// recipients, and the count of all matches: a fixed number of queries.
func (s *Store) ListEmailAliases(ctx context.Context, domainID int64, f EmailAliasFilter, p Page) ([]EmailAliasView, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	if err := domainMustExist(gdb, domainID); err != nil {
		return nil, 0, nil, translate(err)
	}
	rows, total, next, err := findPage(ctx, emailAliasQuery(gdb, domainID, f), EmailAliasList, emailAliasColumns, p)
	if err != nil {
		return nil, 0, nil, err
	}
	views, err := loadEmailAliasViews(gdb, rows)
	return views, total, next, translate(err)
}

// StreamEmailAliases hands every alias of a domain matching f, in the
// order sort selects, to fn in batches (for exports).
func (s *Store) StreamEmailAliases(ctx context.Context, domainID int64, f EmailAliasFilter, sort string, fn func([]EmailAliasView) error) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	if err := domainMustExist(gdb, domainID); err != nil {
		return translate(err)
	}
	return streamAll(ctx, emailAliasQuery(gdb, domainID, f), EmailAliasList, sort, func(rows []EmailAlias) error {
		views, err := loadEmailAliasViews(gdb, rows)
		if err != nil {
			return translate(err)
		}
		return fn(views)
	})
}

// emailAliasQuery applies the filters of the alias list.
func emailAliasQuery(gdb *gorm.DB, domainID int64, f EmailAliasFilter) *gorm.DB {
	q := gdb.Model(&EmailAlias{}).Where("email_aliases.domain_id = ?", domainID)
	q = where(q, f.Email, "email_aliases.email")
	if f.Recipient != "" {
		q = recipientWhere(anchor(q, f.Recipient), f.Recipient)
	}
	if f == (EmailAliasFilter{}) {
		q = counted(q, rowCount{table: "email_aliases", col: "domain_id", val: domainID})
	}
	return q
}

// recipientWhere keeps the aliases with a recipient whose address (as
// shown: recipientEmail) matches m.
//
// On PostgreSQL, one branch per kind of recipient (its own address, its
// user's, its alias's: what recipientEmail picks, as the CHECK on the
// types makes exactly one of them apply), each found from the index of
// the address, then the recipients by key: the planner cannot estimate a
// filter on the COALESCE of the joins, and tested it on every recipient of
// the gateway (300 ms at 100,000 recipients, where the indexes take 1 ms).
// SQLite, without indexes for `*ab*`, tests the recipients of each of the
// domain's aliases, found by key.
func recipientWhere(q *gorm.DB, m Match) *gorm.DB {
	d := dialectOf(q)
	if d != Postgres {
		cond, args := matchClause(d, m, recipientEmail)
		return q.Where("EXISTS (SELECT 1 FROM email_alias_recipients "+recipientJoins+
			" WHERE email_alias_recipients.alias_id = email_aliases.id AND "+cond+")", args...)
	}
	own, a1 := matchClause(d, m, "email_alias_recipients.email")
	user, a2 := matchClause(d, m, "users.email")
	alias, a3 := matchClause(d, m, "targets.email")
	return q.Where("email_aliases.id IN ("+
		"SELECT alias_id FROM email_alias_recipients WHERE user_id IS NULL AND target_alias_id IS NULL AND "+own+
		" UNION ALL SELECT email_alias_recipients.alias_id FROM email_alias_recipients"+
		" JOIN users ON users.id = email_alias_recipients.user_id WHERE "+user+
		" UNION ALL SELECT email_alias_recipients.alias_id FROM email_alias_recipients"+
		" JOIN email_aliases targets ON targets.id = email_alias_recipients.target_alias_id"+
		" WHERE email_alias_recipients.user_id IS NULL AND "+alias+")", slices.Concat(a1, a2, a3)...)
}

func loadEmailAliasView(gdb *gorm.DB, a EmailAlias) (*EmailAliasView, error) {
	views, err := loadEmailAliasViews(gdb, []EmailAlias{a})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// loadEmailAliasViews embeds the recipients, with the names of USER
// recipients, in a page of aliases: one query whatever the page length.
func loadEmailAliasViews(gdb *gorm.DB, aliases []EmailAlias) ([]EmailAliasView, error) {
	views := make([]EmailAliasView, len(aliases))
	if len(aliases) == 0 {
		return views, nil
	}
	ids := make([]int64, len(aliases))
	byID := make(map[int64]*EmailAliasView, len(aliases))
	for i, a := range aliases {
		views[i] = EmailAliasView{EmailAlias: a, Recipients: []RecipientView{}}
		ids[i] = a.ID
		byID[a.ID] = &views[i]
	}
	var recipients []RecipientView
	err := gdb.Table("email_alias_recipients").
		Select("email_alias_recipients.id, email_alias_recipients.alias_id, email_alias_recipients.type, "+
			recipientEmail+" AS email, users.firstname, users.lastname").
		Joins(recipientJoins).
		Where("email_alias_recipients.alias_id IN ?", ids).
		Scan(&recipients).Error
	if err != nil {
		return nil, err
	}
	// Sorted here, in byte order, so both databases list alike.
	sort.Slice(recipients, func(i, j int) bool {
		if recipients[i].Email != recipients[j].Email {
			return recipients[i].Email < recipients[j].Email
		}
		return recipients[i].ID < recipients[j].ID
	})
	for _, r := range recipients {
		v := byID[r.AliasID]
		v.Recipients = append(v.Recipients, r)
	}
	return views, nil
}

// UpdateEmailAlias changes an alias of the domain, all or nothing: its
// address when email is not nil, and, when recipients is not nil, its
// recipients, replaced by that list (recipients kept keep their id). The
// errors are CreateEmailAlias's, and ErrNotFound for an unknown alias.
func (s *Store) UpdateEmailAlias(ctx context.Context, domainID, aliasID int64, email *string, recipients *[]string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAliasGraph(tx); err != nil {
			return err
		}
		a, err := aliasOfDomain(tx, domainID, aliasID)
		if err != nil {
			return err
		}
		if email != nil && *email != a.Email {
			if err := renameAlias(tx, &a, *email); err != nil {
				return err
			}
		}
		if recipients != nil {
			want := make(map[string]bool, len(*recipients))
			for _, e := range *recipients {
				want[strings.ToLower(e)] = true
			}
			var current []EmailAliasRecipient
			if err := tx.Where("alias_id = ?", a.ID).Find(&current).Error; err != nil {
				return err
			}
			var gone []int64
			for _, r := range current {
				if !want[r.Email] {
					gone = append(gone, r.ID)
				}
			}
			if len(gone) > 0 {
				if err := tx.Where("id IN ?", gone).Delete(&EmailAliasRecipient{}).Error; err != nil {
					return err
				}
			}
			if err := addRecipients(tx, a, *recipients); err != nil {
				return err
			}
		}
		return refuseLoop(tx, a)
	})
}

// renameAlias moves a to a new address: the new one is reserved before the
// old one is released (the alias row references its reservation), and the
// recipients that name a follow it.
func renameAlias(tx *gorm.DB, a *EmailAlias, email string) error {
	if err := addressOfDomain(tx, a.DomainID, email); err != nil {
		return err
	}
	if err := tx.Create(&MailAddress{Address: email, DomainID: a.DomainID}).Error; err != nil {
		return err
	}
	if err := tx.Model(&EmailAlias{}).Where("id = ?", a.ID).Update("email", email).Error; err != nil {
		return err
	}
	if err := tx.Where("address = ?", a.Email).Delete(&MailAddress{}).Error; err != nil {
		return err
	}
	err := tx.Model(&EmailAliasRecipient{}).Where("target_alias_id = ?", a.ID).Update("email", email).Error
	if err != nil {
		return err
	}
	a.Email = email
	return claimRecipients(tx, email)
}

// AddEmailAliasRecipients adds recipients to an alias of the domain, all or
// nothing, and returns the alias. Addresses it already lists are ignored,
// so adding is idempotent. Recipients that lead back to the alias give
// ErrUnprocessable.
func (s *Store) AddEmailAliasRecipients(ctx context.Context, domainID, aliasID int64, recipients []string) (*EmailAliasView, error) {
	var out *EmailAliasView
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAliasGraph(tx); err != nil {
			return err
		}
		a, err := aliasOfDomain(tx, domainID, aliasID)
		if err != nil {
			return err
		}
		if err := addRecipients(tx, a, recipients); err != nil {
			return err
		}
		if err := refuseLoop(tx, a); err != nil {
			return err
		}
		out, err = loadEmailAliasView(tx, a)
		return err
	})
	return out, err
}

// DeleteEmailAliasRecipient removes one recipient, by its id, from an alias
// of the domain.
func (s *Store) DeleteEmailAliasRecipient(ctx context.Context, domainID, aliasID, recipientID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if _, err := aliasOfDomain(tx, domainID, aliasID); err != nil {
			return err
		}
		res := tx.Where("id = ? AND alias_id = ?", recipientID, aliasID).Delete(&EmailAliasRecipient{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteEmailAlias deletes an alias: releasing its address cascades to the
// alias, its recipients, and its memberships in other aliases. It takes the
// graph lock too, so that a concurrent write naming this alias as a
// recipient sees it either whole or gone, never a dangling reference.
func (s *Store) DeleteEmailAlias(ctx context.Context, aliasID int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAliasGraph(tx); err != nil {
			return err
		}
		var a EmailAlias
		if err := tx.First(&a, aliasID).Error; err != nil {
			return err
		}
		return tx.Where("address = ?", a.Email).Delete(&MailAddress{}).Error
	})
}
