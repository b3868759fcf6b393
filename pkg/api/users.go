package api

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/notify"
)

// minPasswordLength is the shortest password an account may have.
const minPasswordLength = 8

func (s *Server) userOut(v *db.UserView) gen.User {
	u := v.User
	out := gen.User{
		Id:                 s.id(u.ID),
		Email:              u.Email,
		Firstname:          null(u.Firstname),
		Lastname:           null(u.Lastname),
		Status:             gen.UserStatus(u.Status),
		Language:           gen.Language(u.Language),
		CreationDate:       u.CreationDate,
		DomainId:           s.id(u.DomainID),
		SenderVerifyOn:     u.SenderVerifyOn,
		DomainStatus:       gen.DomainStatus(v.DomainStatus),
		DomainPlatformId:   nullOf[string](),
		MfaType:            nullOf[gen.MfaType](),
		LastConnectionDate: null(u.LastConnectionDate),
	}
	// A domain always has its default policy (see domainOut), so a user
	// always has one, its own or its domain's.
	if v.DomainPolicyID != nil {
		out.DomainPolicyId = s.id(*v.DomainPolicyID)
	}
	if v.Policy != nil {
		out.Policy = s.policyOut(v.Policy)
	}
	if v.DomainPlatformID != nil {
		out.DomainPlatformId.Set(s.id(*v.DomainPlatformID))
	}
	if u.MfaType != nil {
		out.MfaType.Set(gen.MfaType(*u.MfaType))
	}
	if v.Platform != nil {
		out.Platform = ptr(s.platformOut(v.Platform))
	}
	return out
}

// hashPassword checks a new password's length and hashes it with bcrypt
// (golang.org/x/crypto: maintained, salted, tunable, and the format other
// tools read).
func hashPassword(field, pw string) (*string, error) {
	if len([]rune(pw)) < minPasswordLength {
		return nil, badField(field, "must be at least %d characters long", minPasswordLength)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return nil, badField(field, "must be at most 72 bytes long")
	}
	if err != nil {
		return nil, err
	}
	hs := string(h)
	return &hs, nil
}

// belongs tells whether an address's domain part is the domain or one of
// its aliases.
func belongs(d *db.UserDomain, domainPart string) bool {
	if domainPart == d.Name {
		return true
	}
	for _, a := range d.Aliases {
		if a == domainPart {
			return true
		}
	}
	return false
}

// signIn validates a base64-encoded HTML signature.
func signIn(field, sign string) (*string, error) {
	if _, err := base64.StdEncoding.DecodeString(sign); err != nil {
		return nil, badField(field, "must be base64-encoded HTML")
	}
	return &sign, nil
}

// CreateUser creates a mailbox in a domain, with the domain's defaults.
func (s *Server) CreateUser(ctx context.Context, req gen.CreateUserRequestObject) (gen.CreateUserResponseObject, error) {
	in := req.Body
	addr, domainPart, err := mailbox("email", in.Email)
	if err != nil {
		return nil, err
	}
	t, err := s.on(ctx, ruleCreateUserIn, in.DomainId)
	if fault.KindOf(err) == fault.NotFound {
		// A domain outside the caller's reach is as unknown as a missing one.
		return nil, badField("domainId", "no domain has this id")
	}
	if err != nil {
		return nil, err
	}
	domainID := t.key
	d, err := s.store.GetUserDomain(ctx, domainID)
	if fault.KindOf(err) == fault.NotFound {
		return nil, badField("domainId", "no domain has this id")
	}
	if err != nil {
		return nil, err
	}
	if !belongs(d, domainPart) {
		return nil, badField("email", "the address is not in the domain %s or its aliases", d.Name)
	}
	u := &db.User{
		DomainID:       domainID,
		Email:          addr,
		Firstname:      in.Firstname,
		Lastname:       in.Lastname,
		Status:         string(in.Status),
		Language:       string(deref(in.Language, gen.Language(d.DefaultLanguage))),
		SenderVerifyOn: deref(in.SenderVerifyOn, true),
		AuthID:         in.AuthId,
		PlatformID:     d.DefaultPlatform,
	}
	if in.Password != nil {
		if u.PasswordHash, err = hashPassword("password", *in.Password); err != nil {
			return nil, err
		}
	}
	if in.PolicyId != nil {
		k, err := s.refKey(*in.PolicyId, "policyId", "policy of the user's domain")
		if err != nil {
			return nil, err
		}
		u.PolicyID = &k
	}
	if in.PlatformId != nil {
		k, err := s.refKey(*in.PlatformId, "platformId", "platform of the user's domain")
		if err != nil {
			return nil, err
		}
		u.PlatformID = &k
	}
	if in.Sign != nil {
		if u.Sign, err = signIn("sign", *in.Sign); err != nil {
			return nil, err
		}
	}
	notifyUser := deref(in.SendNotification, false)
	if notifyUser {
		if u.Status != db.UserEnabled {
			return nil, unprocessableField("sendNotification", "A %s user gets no welcome mail: create it enabled, or without sendNotification.", strings.ToLower(u.Status))
		}
		if _, err := notify.DomainSettings(ctx, s.store, domainID); errors.Is(err, notify.ErrNoAppURL) {
			return nil, fault.Unprocessablef("sendNotification", "%s", notify.ErrNoAppURL.Detail)
		} else if err != nil {
			return nil, err
		}
	}
	// The user and its welcome mail's job commit together: the mail goes
	// if and only if the user exists.
	err = s.store.Tx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		if notifyUser {
			_, err := s.enqueue(ctx, notify.WelcomeArgs{UserID: u.ID})
			return err
		}
		return nil
	})
	if err != nil {
		if isConflict(err) {
			return nil, conflict("The address %s is already used by a user or an e-mail alias", addr)
		}
		return nil, err
	}
	v, err := s.store.GetUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return gen.CreateUser201JSONResponse{
		Body:    s.userOut(v),
		Headers: gen.CreateUser201ResponseHeaders{Location: s.location("/users/%s", s.id(u.ID))},
	}, nil
}

// GetUser returns one user, by id or e-mail address.
func (s *Server) GetUser(ctx context.Context, req gen.GetUserRequestObject) (gen.GetUserResponseObject, error) {
	u := targetOf(ctx).user
	v, err := s.store.GetUser(ctx, u.ID)
	if err != nil {
		return nil, about(err, fault.User)
	}
	return gen.GetUser200JSONResponse(s.userOut(v)), nil
}

// userPage is a page of users for the wire, the count of all matches, and
// the Link to the next page (nil on the last).
func (s *Server) userPage(ctx context.Context, f db.UserFilter, offset *gen.Offset, pageSize *gen.PageSize, sort *string, cursor *gen.Cursor) ([]gen.User, int64, *string, error) {
	p, err := s.listPage(ctx, offset, pageSize, sort, cursor)
	if err != nil {
		return nil, 0, nil, err
	}
	views, total, next, err := s.store.ListUsers(ctx, f, p)
	if err != nil {
		return nil, 0, nil, err
	}
	out := make([]gen.User, len(views))
	for i := range views {
		out[i] = s.userOut(&views[i])
	}
	return out, total, s.nextLink(ctx, next), nil
}

// ListUsers lists the users the caller may read, across domains.
func (s *Server) ListUsers(ctx context.Context, req gen.ListUsersRequestObject) (gen.ListUsersResponseObject, error) {
	p := req.Params
	email, err := aliasOf("email", p.Email, "name", p.Name)
	if err != nil {
		return nil, err
	}
	f := db.UserFilter{Email: match(email), PlatformName: match(p.PlatformName), Reach: readReach(principalFrom(ctx), PermUserRead)}
	out, total, link, err := s.userPage(ctx, f, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	return gen.ListUsers200JSONResponse{Body: out, Headers: gen.ListUsers200ResponseHeaders{XTotalCount: total, Link: link}}, nil
}

// ListDomainUsers lists a domain's users.
func (s *Server) ListDomainUsers(ctx context.Context, req gen.ListDomainUsersRequestObject) (gen.ListDomainUsersResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	email, err := aliasOf("email", p.Email, "name", p.Name)
	if err != nil {
		return nil, err
	}
	f := db.UserFilter{DomainID: &domainID, Email: match(email), PlatformName: match(p.PlatformName)}
	if wantsSpreadsheet(ctx) {
		x, err := s.exportUsers(ctx, domainID, f, p.Sort)
		if err != nil {
			return nil, err
		}
		return gen.ListDomainUsers200ApplicationvndOpenxmlformatsOfficedocumentSpreadsheetmlSheetResponse{Body: x.Body, Headers: gen.ListDomainUsers200ResponseHeaders(x.headers())}, nil
	}
	out, total, link, err := s.userPage(ctx, f, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	return gen.ListDomainUsers200JSONResponse{Body: out, Headers: gen.ListDomainUsers200ResponseHeaders{XTotalCount: total, Link: link}}, nil
}

// UpdateUser applies the fields present in the body. A user stays in its
// domain: its address may change only within the domain and its aliases.
func (s *Server) UpdateUser(ctx context.Context, req gen.UpdateUserRequestObject) (gen.UpdateUserResponseObject, error) {
	u := targetOf(ctx).user
	var err error
	in := req.Body
	var addr string
	if in.Email != nil {
		var domainPart string
		if addr, domainPart, err = mailbox("email", *in.Email); err != nil {
			return nil, err
		}
		d, err := s.store.GetUserDomain(ctx, u.DomainID)
		if err != nil {
			return nil, err
		}
		if !belongs(d, domainPart) {
			return nil, badField("email", "the address is not in the domain %s or its aliases", d.Name)
		}
	}
	var hash, sign *string
	if in.Password != nil {
		if hash, err = hashPassword("password", *in.Password); err != nil {
			return nil, err
		}
	}
	if in.Sign != nil {
		if sign, err = signIn("sign", *in.Sign); err != nil {
			return nil, err
		}
	}
	var policyID, platformID *int64
	if in.PolicyId != nil {
		k, err := s.refKey(*in.PolicyId, "policyId", "policy of the user's domain")
		if err != nil {
			return nil, err
		}
		policyID = &k
	}
	if in.PlatformId != nil {
		k, err := s.refKey(*in.PlatformId, "platformId", "platform of the user's domain")
		if err != nil {
			return nil, err
		}
		platformID = &k
	}
	err = s.store.UpdateUser(ctx, u.ID, func(x *db.User) error {
		if in.Email != nil {
			x.Email = addr
		}
		if in.Firstname != nil {
			x.Firstname = in.Firstname
		}
		if in.Lastname != nil {
			x.Lastname = in.Lastname
		}
		if in.Status != nil {
			x.Status = string(*in.Status)
		}
		if in.Language != nil {
			x.Language = string(*in.Language)
		}
		if hash != nil {
			x.PasswordHash = hash
		}
		if sign != nil {
			x.Sign = sign
		}
		if policyID != nil {
			x.PolicyID = policyID
		}
		if platformID != nil {
			x.PlatformID = platformID
		}
		if in.AuthId != nil {
			x.AuthID = in.AuthId
		}
		setIf(&x.SenderVerifyOn, in.SenderVerifyOn)
		if in.MfaType != nil {
			x.MfaType = ptr(string(*in.MfaType))
		}
		return nil
	})
	if err != nil {
		if isConflict(err) {
			return nil, conflict("The address %s is already used by a user or an e-mail alias", addr)
		}
		return nil, about(err, fault.User)
	}
	return gen.UpdateUser204Response{}, nil
}

// DeleteUser deletes a user and what belongs only to it.
func (s *Server) DeleteUser(ctx context.Context, req gen.DeleteUserRequestObject) (gen.DeleteUserResponseObject, error) {
	u := targetOf(ctx).user
	if err := s.store.DeleteUser(ctx, u.ID); err != nil {
		return nil, about(err, fault.User)
	}
	return gen.DeleteUser204Response{}, nil
}

// userColumns are the columns of a user export: one per field of User;
// the embedded policy and platform by their names.
var userColumns = []column[gen.User]{
	{"id", 10, func(u *gen.User) any { return u.Id }},
	{"email", 34, func(u *gen.User) any { return u.Email }},
	{"firstname", 16, func(u *gen.User) any { return optional(nullablePtr(u.Firstname)) }},
	{"lastname", 16, func(u *gen.User) any { return optional(nullablePtr(u.Lastname)) }},
	{"status", 10, func(u *gen.User) any { return string(u.Status) }},
	{"language", 9, func(u *gen.User) any { return string(u.Language) }},
	{"creationDate", 20, func(u *gen.User) any { return msDate(&u.CreationDate) }},
	{"lastConnectionDate", 20, func(u *gen.User) any { return msDate(nullablePtr(u.LastConnectionDate)) }},
	{"senderVerifyOn", 14, func(u *gen.User) any { return u.SenderVerifyOn }},
	{"mfaType", 10, func(u *gen.User) any {
		if m := nullablePtr(u.MfaType); m != nil {
			return string(*m)
		}
		return nil
	}},
	{"domainId", 10, func(u *gen.User) any { return u.DomainId }},
	{"domainStatus", 12, func(u *gen.User) any { return string(u.DomainStatus) }},
	{"domainPolicyId", 14, func(u *gen.User) any { return u.DomainPolicyId }},
	{"domainPlatformId", 16, func(u *gen.User) any { return optional(nullablePtr(u.DomainPlatformId)) }},
	{"policy.name", 24, func(u *gen.User) any { return u.Policy.Name }},
	{"platform.name", 20, func(u *gen.User) any {
		if u.Platform != nil {
			return u.Platform.Name
		}
		return nil
	}},
}

// exportUsers answers a domain's user list as a spreadsheet.
func (s *Server) exportUsers(ctx context.Context, domainID int64, f db.UserFilter, sort *string) (*spreadsheet, error) {
	return exportDomainList(ctx, s, domainID, "users", "Users", userColumns, s.userOut,
		func(fn func([]db.UserView) error) error { return s.store.StreamUsers(ctx, f, deref(sort, ""), fn) })
}
