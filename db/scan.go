package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gorm.io/gorm"
)

// The reads that nearly every request makes (a token and its account, a
// domain with where it sits, what a domain's view embeds) scan their rows
// by hand, through query: GORM's building of a statement and its
// reflective scanning cost about 20 µs of CPU a statement, more than the
// driver's own work (issue 14's profile of GET /domains/{id}). Each model
// read so lists its columns once, beside the fields they scan into, in the
// order of its struct; TestScanColumns holds each list to GORM's schema of
// the model, so a field added to a model and not here fails the tests.

// columns are a model's columns and the fields of a value they scan into,
// in the same order.
type columns[T any] struct {
	names  []string
	fields func(*T) []any
}

// of is the column list for a SELECT, each name qualified by the table
// (or alias) t.
func (c columns[T]) of(t string) string {
	var sb strings.Builder
	for i, n := range c.names {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(t)
		sb.WriteByte('.')
		sb.WriteString(n)
	}
	return sb.String()
}

// jsonOf scans a column that GORM's JSON serializer wrote into *p, as the
// serializer reads it: NULL or empty is the zero value.
type jsonOf[T any] struct{ p *T }

// target is the field scanned into (TestScanColumns).
func (j jsonOf[T]) target() any { return j.p }

func (j jsonOf[T]) Scan(src any) error {
	var v T
	var b []byte
	switch s := src.(type) {
	case nil:
	case []byte:
		b = s
	case string:
		b = []byte(s)
	default:
		return fmt.Errorf("a JSON column holds a %T", src)
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
	}
	*j.p = v
	return nil
}

// reader is what a read scanned by hand needs of a store session: the
// call's context (its deadline; within Store.Tx, its transaction's), the
// pool or transaction to read on, and the dialect. Making one clones
// nothing, as a GORM session (Store.db) does, about 1.7 kB a call.
type reader struct {
	ctx  context.Context
	pool gorm.ConnPool
	d    Dialect
}

// readerOf is the reader of a GORM session, for code that holds one.
func readerOf(gdb *gorm.DB) reader {
	return reader{gdb.Statement.Context, gdb.Statement.ConnPool, dialectOf(gdb)}
}

// reads is Store.db for the reads scanned by hand.
func (s *Store) reads(ctx context.Context) (reader, context.CancelFunc) {
	if tx, ok := s.inTx(ctx); ok {
		return readerOf(tx), func() {}
	}
	ctx, cancel := s.bound(ctx)
	return reader{ctx, s.gdb.Statement.ConnPool, s.dialect}, cancel
}

// query runs a read on r's connection pool (the transaction's within
// Store.Tx), its statement prepared once a connection, bounded by the
// session's deadline, its outages marked and the statement recorded
// (Store.Record) as GORM's callbacks do for its own statements; it hands
// each row to scan. q is written as for GORM's Raw: ? for an argument,
// ? for a slice makes an IN list, (?, ?, …).
func query(r reader, scan func(*sql.Rows) error, q string, args ...any) error {
	text, vars := bind(r.d, q, args)
	return queryBound(r, scan, text, vars)
}

// queryBound is query for a statement already written in the dialect's
// placeholders (bind, bindAfter), with its arguments.
func queryBound(r reader, scan func(*sql.Rows) error, text string, vars []any) (err error) {
	ctx, d := r.ctx, r.d
	record(ctx, text, vars)
	// On PostgreSQL, pgx keeps a cache of prepared statements on each
	// connection (its default mode): GORM's cache in front of it, a
	// database/sql statement found for the connection under a shared lock,
	// only adds its own cost (a GET's CPU 640 → 570 µs at 8 clients).
	// SQLite's driver keeps none: GORM's prepares each statement once.
	pool := r.pool
	if ps, ok := pool.(*gorm.PreparedStmtDB); ok && d == Postgres {
		pool = ps.ConnPool
	}
	rows, err := pool.QueryContext(ctx, text, vars...)
	if err != nil {
		return translate(asUnavailable(err))
	}
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			err = translate(asUnavailable(cerr))
		}
	}()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return translate(asUnavailable(err))
		}
	}
	return translate(asUnavailable(rows.Err()))
}

// bind writes q's placeholders in the dialect's style ($1, $2, … on
// PostgreSQL) and expands each slice argument into a parenthesised list
// of placeholders, one an element, ((NULL) for none, as GORM writes it).
// A ? inside a quoted literal is not a placeholder.
func bind(d Dialect, q string, args []any) (string, []any) {
	// The text depends on the statement, its dialect, its count of
	// arguments and the length of each IN list alone: it is written once
	// for each (a GET's 8 statements wrote 2.7 kB a request, issue 14).
	k := boundKey{d: d, q: q, n: len(args)}
	lists := 0
	for _, a := range args {
		if n := listLen(a); n >= 0 {
			if lists == len(k.lens) {
				return bindAfter(d, make([]any, 0, len(args)), q, args)
			}
			k.lens[lists] = n
			lists++
		}
	}
	if text, ok := boundTexts.Load(k); ok {
		if lists == 0 {
			return text.(string), args
		}
		return text.(string), expand(args)
	}
	text, vars := bindAfter(d, make([]any, 0, len(args)), q, args)
	if boundCount.Load() < maxBoundTexts {
		if _, loaded := boundTexts.LoadOrStore(k, text); !loaded {
			boundCount.Add(1)
		}
	}
	return text, vars
}

// boundTexts holds bind's texts. The statements are the program's own
// (constants, and lists' conditions written from their fixed fragments),
// their IN lists as long as a page at most, so it holds a few thousand at
// most; it stops growing at maxBoundTexts all the same, past which a
// statement is written each time.
var (
	boundTexts sync.Map // boundKey → string
	boundCount atomic.Int64
)

const maxBoundTexts = 4096

// boundKey is what bind's text depends on: a statement with more IN lists
// than lens holds is written each time.
type boundKey struct {
	d    Dialect
	q    string
	n    int
	lens [4]int
}

// listLen returns the length of arg if bind writes it as an IN list (a
// slice, but for bytes: one value), or -1. []int64, the lists of keys,
// without reflection.
func listLen(arg any) int {
	switch v := arg.(type) {
	case nil, []byte, string, int64, int, bool:
		return -1
	case []int64:
		return len(v)
	}
	if rv := reflect.ValueOf(arg); rv.Kind() == reflect.Slice {
		return rv.Len()
	}
	return -1
}

// appendArg appends arg to vars, an IN list as its elements, and returns
// listLen(arg).
func appendArg(vars []any, arg any) ([]any, int) {
	n := listLen(arg)
	if n < 0 {
		return append(vars, arg), n
	}
	if v, ok := arg.([]int64); ok {
		for _, e := range v {
			vars = append(vars, e)
		}
		return vars, n
	}
	rv := reflect.ValueOf(arg)
	for j := range n {
		vars = append(vars, rv.Index(j).Interface())
	}
	return vars, n
}

// expand returns args with each IN list's elements in its place, the
// vars of bind's text.
func expand(args []any) []any {
	vars := make([]any, 0, len(args))
	for _, a := range args {
		vars, _ = appendArg(vars, a)
	}
	return vars
}

// bindAfter is bind for the part of a statement that follows one already
// written with the arguments vars: its placeholders number on from theirs,
// and its arguments are appended to them.
func bindAfter(d Dialect, vars []any, q string, args []any) (string, []any) {
	var sb strings.Builder
	sb.Grow(len(q) + 8)
	// mark writes the placeholder of the num-th of vars.
	mark := func(num int) {
		if d == Postgres {
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(num))
		} else {
			sb.WriteByte('?')
		}
	}
	next, whole := 0, q
	for {
		i := strings.IndexAny(q, "?'")
		if i < 0 {
			sb.WriteString(q)
			break
		}
		sb.WriteString(q[:i])
		if q[i] == '\'' { // a literal, to its closing quote
			end := strings.IndexByte(q[i+1:], '\'')
			if end < 0 {
				sb.WriteString(q[i:])
				break
			}
			sb.WriteString(q[i : i+end+2])
			q = q[i+end+2:]
			continue
		}
		q = q[i+1:]
		if next == len(args) {
			panic(fmt.Sprintf("db: more placeholders than arguments in %q", whole))
		}
		from := len(vars)
		var n int
		vars, n = appendArg(vars, args[next])
		next++
		if n < 0 {
			mark(from + 1)
			continue
		}
		sb.WriteByte('(')
		if n == 0 {
			sb.WriteString("NULL")
		}
		for j := range n {
			if j > 0 {
				sb.WriteString(", ")
			}
			mark(from + j + 1)
		}
		sb.WriteByte(')')
	}
	if next != len(args) {
		panic(fmt.Sprintf("db: %d arguments for %d placeholders in %q", len(args), next, whole))
	}
	return sb.String(), vars
}

// queryAll is query for rows of one model, appended to a slice (nil for
// none).
func queryAll[T any](r reader, c columns[T], q string, args ...any) ([]T, error) {
	text, vars := bind(r.d, q, args)
	var out []T
	err := appendRows(r, c, &out, text, vars)
	return out, err
}

// appendRows runs a statement already bound (queryBound) and appends its
// rows, the columns c, to *out.
func appendRows[T any](r reader, c columns[T], out *[]T, text string, vars []any) error {
	return queryBound(r, func(rows *sql.Rows) error {
		var v T
		if err := rows.Scan(c.fields(&v)...); err != nil {
			return err
		}
		*out = append(*out, v)
		return nil
	}, text, vars)
}

var domainColumns = columns[Domain]{
	names: []string{"id", "name", "description", "status", "wblist_priority", "default_language",
		"auto_provisioning_on", "sender_verify_on", "external_id", "policy_id", "customer_id",
		"outgoing_subnets", "creation_date", "deletion_date", "purge_date"},
	fields: func(d *Domain) []any {
		return []any{&d.ID, &d.Name, &d.Description, &d.Status, &d.WblistPriority, &d.DefaultLanguage,
			&d.AutoProvisioningOn, &d.SenderVerifyOn, &d.ExternalID, &d.PolicyID, &d.CustomerID,
			jsonOf[[]string]{&d.OutgoingSubnets}, &d.CreationDate, &d.DeletionDate, &d.PurgeDate}
	},
}

var policyColumns = columns[Policy]{
	names: []string{"id", "domain_id", "name", "quarantine", "retention", "archive", "incoming", "outgoing",
		"mail_size_limit", "spam_score", "relay_props", "quarantine_props", "retention_props", "archive_props"},
	fields: func(p *Policy) []any {
		return []any{&p.ID, &p.DomainID, &p.Name, &p.Quarantine, &p.Retention, &p.Archive, &p.Incoming, &p.Outgoing,
			&p.MailSizeLimit, &p.SpamScore, jsonOf[*RelayProps]{&p.RelayProps}, jsonOf[*QuarantineProps]{&p.QuarantineProps},
			jsonOf[*RetentionProps]{&p.RetentionProps}, jsonOf[*ArchiveProps]{&p.ArchiveProps}}
	},
}

var domainAliasColumns = columns[DomainAlias]{
	names:  []string{"id", "domain_id", "name"},
	fields: func(a *DomainAlias) []any { return []any{&a.ID, &a.DomainID, &a.Name} },
}

var platformColumns = columns[Platform]{
	names: []string{"id", "domain_id", "name", "transport_dest", "transport_type", "transport_port",
		"fallback_transport_dest", "fallback_transport_type", "fallback_transport_port",
		"api_type", "api_data", "auth_type", "auth_data", "is_default"},
	fields: func(p *Platform) []any {
		return []any{&p.ID, &p.DomainID, &p.Name, &p.TransportDest, &p.TransportType, &p.TransportPort,
			&p.FallbackTransportDest, &p.FallbackTransportType, &p.FallbackTransportPort,
			&p.APIType, &p.APIData, &p.AuthType, &p.AuthData, &p.IsDefault}
	},
}

var customerColumns = columns[Customer]{
	names: []string{"id", "broker_id", "name", "description", "external_id", "created_at"},
	fields: func(c *Customer) []any {
		return []any{&c.ID, &c.BrokerID, &c.Name, &c.Description, &c.ExternalID, &c.CreatedAt}
	},
}

var outgoingProviderColumns = columns[OutgoingProvider]{
	names:  []string{"id", "name", "spf_provider", "active"},
	fields: func(p *OutgoingProvider) []any { return []any{&p.ID, &p.Name, &p.SpfProvider, &p.Active} },
}

var adminColumns = columns[Admin]{
	names: []string{"id", "login", "email", "display_name", "password_hash", "enabled", "language", "totp",
		"sys_admin", "last_connection_date", "created_at"},
	fields: func(a *Admin) []any {
		return []any{&a.ID, &a.Login, &a.Email, &a.DisplayName, &a.PasswordHash, &a.Enabled, &a.Language, &a.Totp,
			&a.SysAdmin, &a.LastConnectionDate, &a.CreatedAt}
	},
}

var authorityColumns = columns[Authority]{
	names: []string{"id", "admin_id", "broker_id", "customer_id", "domain_id", "permissions"},
	fields: func(a *Authority) []any {
		return []any{&a.ID, &a.AdminID, &a.BrokerID, &a.CustomerID, &a.DomainID, jsonOf[[]string]{&a.Permissions}}
	},
}

var tokenColumns = columns[PersonalToken]{
	names: []string{"id", "admin_id", "name", "hash", "expiration", "created_at", "last_use"},
	fields: func(t *PersonalToken) []any {
		return []any{&t.ID, &t.AdminID, &t.Name, &t.Hash, &t.Expiration, &t.CreatedAt, &t.LastUse}
	},
}

var userColumns = columns[User]{
	names: []string{"id", "domain_id", "email", "firstname", "lastname", "status", "language", "password_hash",
		"policy_id", "platform_id", "auth_id", "sender_verify_on", "mfa_type", "sign", "creation_date",
		"last_connection_date"},
	fields: func(u *User) []any {
		return []any{&u.ID, &u.DomainID, &u.Email, &u.Firstname, &u.Lastname, &u.Status, &u.Language, &u.PasswordHash,
			&u.PolicyID, &u.PlatformID, &u.AuthID, &u.SenderVerifyOn, &u.MfaType, &u.Sign, &u.CreationDate,
			&u.LastConnectionDate}
	},
}

var brokerColumns = columns[Broker]{
	names: []string{"id", "name", "description", "external_id", "created_at"},
	fields: func(b *Broker) []any {
		return []any{&b.ID, &b.Name, &b.Description, &b.ExternalID, &b.CreatedAt}
	},
}

var emailAliasColumns = columns[EmailAlias]{
	names:  []string{"id", "domain_id", "email"},
	fields: func(a *EmailAlias) []any { return []any{&a.ID, &a.DomainID, &a.Email} },
}

var attachmentFilterColumns = columns[AttachmentFilter]{
	names: []string{"id", "domain_id", "action", "check_type", "filter", "description", "priority", "created_at"},
	fields: func(f *AttachmentFilter) []any {
		return []any{&f.ID, &f.DomainID, &f.Action, &f.CheckType, &f.Filter, &f.Description, &f.Priority, &f.CreatedAt}
	},
}

var uriFilterColumns = columns[UriFilter]{
	names: []string{"id", "domain_id", "action", "filter", "description", "priority", "created_at"},
	fields: func(f *UriFilter) []any {
		return []any{&f.ID, &f.DomainID, &f.Action, &f.Filter, &f.Description, &f.Priority, &f.CreatedAt}
	},
}

var wblistColumns = columns[WblistRule]{
	names: []string{"id", "domain_id", "user_id", "value", "type", "spf_on", "expire_at", "description", "created_at"},
	fields: func(w *WblistRule) []any {
		return []any{&w.ID, &w.DomainID, &w.UserID, &w.Value, &w.Type, &w.SpfOn, &w.ExpireAt, &w.Description, &w.CreatedAt}
	},
}
