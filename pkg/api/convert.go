package api

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/oapi-codegen/nullable"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Helpers shared by the handlers: ids, pages, pointers and nullables.

// id encodes a database key for the wire.
func (s *Server) id(key int64) string { return s.ids.Encode(key) }

// pathKey decodes the id of an object in the URL path that the access
// layer does not resolve (one below the rule's: a domain's alias, an
// alias's recipient): an id that does not decode names nothing, so it is
// the resource's 404 like any unknown id.
func (s *Server) pathKey(id string, r fault.Resource) (int64, error) {
	key, ok := s.ids.Decode(id)
	if !ok {
		return 0, fault.NotFoundOf(r)
	}
	return key, nil
}

// refKey decodes an id given in a body or a filter, where an unknown id is
// a reference to nothing: 422 for a body (field names it).
func (s *Server) refKey(id, field, what string) (int64, error) {
	key, ok := s.ids.Decode(id)
	if !ok {
		return 0, fault.Unprocessablef(field, "no %s has this id", what)
	}
	return key, nil
}

// filterKey decodes an id used as a list filter; one that does not decode
// matches nothing (key 0 is never assigned).
func (s *Server) filterKey(id *string) *int64 {
	if id == nil {
		return nil
	}
	key, ok := s.ids.Decode(*id)
	if !ok {
		key = 0
	}
	return &key
}

// page turns the shared list parameters into a db.Page with the doc's
// defaults (offset 0, pageSize 40); the validator has enforced the bounds.
func page(offset *gen.Offset, pageSize *gen.PageSize, sort *string) db.Page {
	p := db.Page{Offset: 0, PageSize: 40}
	if offset != nil {
		p.Offset = int(*offset)
	}
	if pageSize != nil {
		p.PageSize = int(*pageSize)
	}
	if sort != nil {
		p.Sort = *sort
	}
	return p
}

// aliasOf reads a filter that the doc's examples also spell another way
// (alias): either may be sent, not both.
func aliasOf(name string, v *string, alias string, av *string) (*string, error) {
	if av == nil {
		return v, nil
	}
	if v != nil {
		return nil, badField(alias, "is an alias of %s: send one of the two", name)
	}
	return av, nil
}

func match(v *string) db.Match {
	if v == nil {
		return ""
	}
	return db.Match(*v)
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// null returns a nullable holding *p, or an explicit null when p is nil.
func null[T any](p *T) nullable.Nullable[T] {
	if p == nil {
		return nullOf[T]()
	}
	return nullable.NewNullableWithValue(*p)
}

// nulls holds one explicit null of each nullable type, shared: a Nullable
// is a map, and the responses' nulls (a dozen a domain) need not each be
// a new one. Sharing is safe because nothing writes into a Nullable's map:
// its Set, SetNull and UnmarshalJSON replace the map, and its readers only
// read it.
var nulls sync.Map // reflect.Type → nullable.Nullable[T]

// nullOf is an explicit null of T, for a response.
func nullOf[T any]() nullable.Nullable[T] {
	k := reflect.TypeFor[T]()
	if v, ok := nulls.Load(k); ok {
		return v.(nullable.Nullable[T])
	}
	v, _ := nulls.LoadOrStore(k, nullable.NewNullNullable[T]())
	return v.(nullable.Nullable[T])
}

// nullableSet applies a PATCH field: absent leaves *dst alone, null clears
// it, a value sets it.
func nullableSet[T any](dst **T, n nullable.Nullable[T]) {
	if !n.IsSpecified() {
		return
	}
	if n.IsNull() {
		*dst = nil
		return
	}
	v := n.MustGet()
	*dst = &v
}

// location is the Location of a resource: its path, after the configured
// public URL when there is one. Never the request's Host: a client would
// choose where its Location points.
func (s *Server) location(format string, args ...any) string {
	return s.publicURL + fmt.Sprintf(format, args...)
}
