package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cleanmail/cleanmail/pkg/fault"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AdminList declares the admin list's sort fields.
var AdminList = ListSpec{
	Table:       "admins",
	DefaultSort: "login",
	Sorts: map[string]string{
		"id":          "admins.id",
		"login":       "lower(admins.login)",
		"email":       "lower(admins.email)",
		"displayName": "lower(admins.display_name)",
		"createdAt":   "admins.created_at",
	},
	Nullable: []string{"email", "displayName"},
}

// AdminFilter holds the admin list's filters.
type AdminFilter struct {
	// Search matches login, e-mail or display name.
	Search Match
	// Managed, if set, restricts the list to the caller itself (Self) and
	// the accounts holding an authority within the reach (the caller's
	// GRANT reach).
	Managed *Reach
	Self    int64
	// OnDomain, if set, restricts the list to the accounts holding an
	// authority on that domain itself.
	OnDomain *int64
	// ID, if set, restricts the list to one account.
	ID *int64
}

// CreateAdmin stores an administrator account. A login already used
// (case-insensitively) gives ErrConflict.
func (s *Store) CreateAdmin(ctx context.Context, a *Admin) error {
	a.CreatedAt = nowMillis()
	return s.write(ctx, func(gdb *gorm.DB) error { return gdb.Create(a).Error })
}

// CountAdmins counts every administrator account.
func (s *Store) CountAdmins(ctx context.Context) (int64, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var n int64
	return n, translate(gdb.Model(&Admin{}).Count(&n).Error)
}

// GetAdmin loads one administrator.
func (s *Store) GetAdmin(ctx context.Context, id int64) (*Admin, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var a Admin
	if err := gdb.First(&a, id).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// LockAdmin is GetAdmin for a Store.Tx that goes on to write on the
// strength of what it read: the row is locked until the transaction ends
// (FOR UPDATE on PostgreSQL; on SQLite the transaction holds the one
// writer already), so no concurrent write changes it in between.
func (s *Store) LockAdmin(ctx context.Context, id int64) (*Admin, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	if s.dialect == Postgres {
		gdb = gdb.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var a Admin
	if err := gdb.First(&a, id).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// GetAdminByLogin loads the administrator whose login is login, compared
// as the unique key compares them: lower(login), nothing else. It is not
// a filter (Match): `*` is no wildcard here, and an empty login names
// nobody.
func (s *Store) GetAdminByLogin(ctx context.Context, login string) (*Admin, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var a Admin
	if err := gdb.Where("lower(login) = lower(?)", login).Take(&a).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// ListAdmins returns one page of administrators.
func (s *Store) ListAdmins(ctx context.Context, f AdminFilter, p Page) ([]Admin, int64, *Cursor, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	q := gdb.Model(&Admin{})
	if f.Search != "" {
		d := dialectOf(q)
		c1, a1 := matchClause(d, f.Search, "admins.login")
		c2, a2 := matchClause(d, f.Search, "admins.email")
		c3, a3 := matchClause(d, f.Search, "admins.display_name")
		q = anchor(q, f.Search).Where("("+c1+" OR "+c2+" OR "+c3+")", slices.Concat(a1, a2, a3)...)
	}
	if f.ID != nil {
		q = q.Where("admins.id = ?", *f.ID)
	}
	if f.OnDomain != nil {
		q = q.Where("admins.id IN (SELECT admin_id FROM authorities WHERE domain_id = ?)", *f.OnDomain)
	}
	if f.Managed != nil {
		// The holders of an authority on a broker, a customer (named, or
		// of a broker) or a domain within the reach: one branch per kind
		// of authority, each found by its index.
		r := f.Managed
		domains := r.domainsWhere(q.Session(&gorm.Session{NewDB: true}).Table("domains").Select("domains.id"), "domains.id", "domains.customer_id")
		holders := "SELECT admin_id FROM authorities WHERE broker_id IN ?" +
			" UNION ALL SELECT admin_id FROM authorities WHERE customer_id IN ?" +
			" UNION ALL SELECT admin_id FROM authorities WHERE customer_id IN (SELECT id FROM customers WHERE broker_id IN ?)" +
			" UNION ALL SELECT admin_id FROM authorities WHERE " + inSubquery(dialectOf(q), "domain_id", "?")
		q = q.Where("(admins.id = ? OR "+inSubquery(dialectOf(q), "admins.id", holders)+")",
			f.Self, orNone(r.BrokerIDs), orNone(r.CustomerIDs), orNone(r.BrokerIDs), domains)
	}
	if f.Search == "" && f.Managed == nil && f.OnDomain == nil && f.ID == nil {
		q = counted(q, rowCount{table: "admins"})
	}
	return findPage(ctx, q, AdminList, adminColumns, p)
}

// NewTokenValue returns a fresh personal token: 32 random hex characters.
func NewTokenValue() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// HashToken is how a token is stored and looked up. Tokens carry 128
// random bits, so a fast unsalted hash is safe here (unlike passwords):
// nobody can enumerate the space, and the lookup stays an index probe.
func HashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// CreateToken stores a token for an admin; value is its clear text, of
// which only the hash is kept.
func (s *Store) CreateToken(ctx context.Context, t *PersonalToken, value string) error {
	t.Hash = HashToken(value)
	t.CreatedAt = nowMillis()
	return s.tx(ctx, func(tx *gorm.DB) error {
		if err := s.lockAdmin(tx, t.AdminID); err != nil {
			return err
		}
		if err := tx.Create(t).Error; err != nil {
			return err
		}
		return atMost(tx, &PersonalToken{}, MaxTokens, "an account's personal tokens", "admin_id = ?", t.AdminID)
	})
}

// ListTokens returns an admin's tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, adminID int64) ([]PersonalToken, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	out := []PersonalToken{}
	err := gdb.Where("admin_id = ?", adminID).Order("created_at, id").Find(&out).Error
	return out, translate(err)
}

// DeleteToken revokes one of an admin's tokens.
func (s *Store) DeleteToken(ctx context.Context, adminID, tokenID int64) error {
	return s.write(ctx, func(gdb *gorm.DB) error {
		return deleted(gdb.Where("id = ? AND admin_id = ?", tokenID, adminID).Delete(&PersonalToken{}))
	})
}

// GetToken loads one token of an admin.
func (s *Store) GetToken(ctx context.Context, adminID, tokenID int64) (*PersonalToken, error) {
	gdb, cancel := s.db(ctx)
	defer cancel()
	var t PersonalToken
	if err := gdb.Where("id = ? AND admin_id = ?", tokenID, adminID).Take(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// Authenticate finds the admin a token value belongs to, if the token is
// known and unexpired and its account enabled, with its authorities when
// it is not a sysadmin (a sysadmin's are never read): one statement, the
// token joined to its account and the account's authorities; otherwise
// ErrNotFound. It records the token's last use (at most once a minute, to
// spare writes; on SQLite, only when the writer is free: authenticating,
// which every request does, never waits for a write, and the next request
// records it).
func (s *Store) Authenticate(ctx context.Context, value string) (*Admin, *PersonalToken, []Authority, error) {
	r, cancel := s.reads(ctx)
	defer cancel()
	var t PersonalToken
	var a Admin
	var auths []Authority
	found := false
	// Each row scans into the same values (its NULLs too): the row's
	// authority is copied out of au before the next.
	var au struct {
		ID, BrokerID, CustomerID, DomainID *int64
		Permissions                        *string
	}
	dest := slices.Concat(tokenColumns.fields(&t), adminColumns.fields(&a),
		[]any{&au.ID, &au.BrokerID, &au.CustomerID, &au.DomainID, &au.Permissions})
	err := query(r, func(rows *sql.Rows) error {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		found = true
		if au.ID == nil {
			return nil // no authority: the one row of the outer join
		}
		auth := Authority{ID: *au.ID, AdminID: a.ID, BrokerID: au.BrokerID, CustomerID: au.CustomerID, DomainID: au.DomainID}
		if err := json.Unmarshal([]byte(deref(au.Permissions, "[]")), &auth.Permissions); err != nil {
			return fmt.Errorf("authority %d: permissions: %w", auth.ID, err)
		}
		auths = append(auths, auth)
		return nil
	}, authenticateSQL, HashToken(value))
	if err != nil {
		return nil, nil, nil, err
	}
	if !found {
		return nil, nil, nil, ErrNotFound
	}
	now := nowMillis()
	if t.Expiration != nil && *t.Expiration <= now {
		return nil, nil, nil, ErrNotFound
	}
	if !a.SysAdmin && auths == nil {
		auths = []Authority{}
	}
	if t.LastUse == nil || now-*t.LastUse > 60_000 {
		done, err := s.tryWrite(ctx, func(gdb *gorm.DB) error {
			return gdb.Model(&PersonalToken{}).Where("id = ?", t.ID).Update("last_use", now).Error
		})
		if err != nil {
			return nil, nil, nil, err
		}
		if done {
			t.LastUse = &now
		}
	}
	return &a, &t, auths, nil
}

// authenticateSQL reads a token's hash with its account, if enabled, and
// the account's authorities unless it is a sysadmin's (whose are never
// read): a row an authority, or one with NULLs for none.
var authenticateSQL = "SELECT " + tokenColumns.of("t") + ", " + adminColumns.of("a") + `,
		au.id, au.broker_id, au.customer_id, au.domain_id, au.permissions
	FROM personal_tokens AS t
	JOIN admins AS a ON a.id = t.admin_id AND a.enabled
	LEFT JOIN authorities AS au ON au.admin_id = a.id AND NOT a.sys_admin
	WHERE t.hash = ?
	ORDER BY au.id`

// adminExists is used by token operations' 404s.
func adminExists(tx *gorm.DB, id int64) error {
	var a Admin
	return tx.Select("id").First(&a, id).Error
}

// AdminExists reports ErrNotFound for an unknown admin id.
func (s *Store) AdminExists(ctx context.Context, id int64) error {
	gdb, cancel := s.db(ctx)
	defer cancel()
	return translate(adminExists(gdb, id))
}

// Bootstrap creates, on a database without administrators, the sysadmin
// account "admin" and a personal token for it: token if not empty,
// otherwise a new one. It returns the token's value and whether it created
// anything. Two servers starting together create one account: the login's
// unique key refuses the second.
func (s *Store) Bootstrap(ctx context.Context, token string) (string, bool, error) {
	n, err := s.CountAdmins(ctx)
	if err != nil || n > 0 {
		return "", false, err
	}
	if token == "" {
		token = NewTokenValue()
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		lang := "EN"
		a := Admin{Login: "admin", Enabled: true, SysAdmin: true, Language: &lang, CreatedAt: nowMillis()}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		return tx.Create(&PersonalToken{AdminID: a.ID, Name: "bootstrap", Hash: HashToken(token), CreatedAt: nowMillis()}).Error
	})
	if errors.Is(err, ErrConflict) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return token, true, nil
}

// UpdateAdmin loads an admin, lets edit change it and saves it, in one
// transaction.
func (s *Store) UpdateAdmin(ctx context.Context, id int64, edit func(a *Admin) error) (*Admin, error) {
	var a Admin
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.First(&a, id).Error; err != nil {
			return err
		}
		if err := edit(&a); err != nil {
			return err
		}
		a.ID = id
		if !a.Enabled && a.SysAdmin {
			if err := s.lastSysadmin(tx, id); err != nil {
				return err
			}
		}
		return tx.Model(&Admin{ID: id}).Select("*").Omit("id", "login", "sys_admin", "created_at").Updates(&a).Error
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// lastSysadmin refuses to lose id when no other enabled sysadmin is left.
// On PostgreSQL it locks the enabled sysadmins' rows (in id order, so that
// two checks cannot deadlock) until the transaction ends: two concurrent
// disables of the last two then run one after the other, and the second
// sees that the first one's account is no longer enabled. A count alone
// would not: each would count the other, and both would pass.
func (s *Store) lastSysadmin(tx *gorm.DB, id int64) error {
	q := tx.Model(&Admin{}).Where("sys_admin AND enabled").Order("id")
	if s.dialect == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var ids []int64
	if err := q.Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, other := range ids {
		if other != id {
			return nil
		}
	}
	return fault.Fail(fault.Unprocessable, "", "this is the last enabled sysadmin account")
}

// DeleteAdmin deletes an account; its tokens and authorities go with it
// (foreign keys). The last enabled sysadmin stays.
func (s *Store) DeleteAdmin(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var a Admin
		if err := tx.First(&a, id).Error; err != nil {
			return err
		}
		if a.SysAdmin && a.Enabled {
			if err := s.lastSysadmin(tx, id); err != nil {
				return err
			}
		}
		return tx.Delete(&Admin{}, id).Error
	})
}
