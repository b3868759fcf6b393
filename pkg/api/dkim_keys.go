package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

// errNoSecretKey is the 422 of a server that cannot encrypt private keys.
var errNoSecretKey = fault.Fail(fault.Unprocessable, "",
	"The server's secret key is not configured (CLEANMAIL_SECRET_KEY): DKIM private keys cannot be stored, since they are stored only encrypted.")

// sealContext binds a sealed private key to its domain: a row copied onto
// another domain does not open.
func sealContext(domainID int64) []byte {
	return fmt.Appendf(nil, "cleanmail dkim_keys domain_id=%d", domainID)
}

// dkimRecords is what the four operations answer: the key's record under
// each of its names.
func dkimRecords(v *db.DkimKeyView) []string {
	out := make([]string, len(v.Names))
	for i, n := range v.Names {
		out[i] = dkim.Record(v.Selector, n, dkim.Algorithm(v.Algorithm), v.PublicKey)
	}
	return out
}

// dkimSelector is the selector given (canonical), else the domain's
// DKIM_SELECTOR.
func (s *Server) dkimSelector(ctx context.Context, domainID int64, given *string) (string, error) {
	if given != nil {
		return named("selector", *given, names.Host)
	}
	sel, err := s.store.DkimSelector(ctx, domainID)
	if err != nil {
		return "", about(err, fault.Domain)
	}
	return sel, nil
}

// givenKey parses a private key of a request and checks the public key
// given with it, if any.
func givenKey(private string, public *string) (*dkim.Key, error) {
	k, err := dkim.ParsePrivateKey("privateKey", private)
	if err != nil {
		return nil, err
	}
	if public != nil {
		if err := k.Matches("publicKey", *public); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// sealedRow is the stored form of the domain's key.
func (s *Server) sealedRow(domainID int64, selector string, k *dkim.Key) (*db.DkimKey, error) {
	der, err := k.MarshalPrivate()
	if err != nil {
		return nil, err
	}
	row := &db.DkimKey{DomainID: domainID, Selector: selector, Algorithm: string(k.Algorithm),
		PrivateKey: s.sealer.Seal(der, sealContext(domainID)), PublicKey: k.PublicKey()}
	clear(der)
	return row, nil
}

// AddDomainDkim generates the domain's key (or stores the one given) and
// answers its records. A domain that has one already is a 409.
func (s *Server) AddDomainDkim(ctx context.Context, req gen.AddDomainDkimRequestObject) (gen.AddDomainDkimResponseObject, error) {
	domainID := targetOf(ctx).key
	if s.sealer == nil {
		return nil, errNoSecretKey
	}
	b := deref(req.Body, gen.DkimKeyAdd{})
	if b.PrivateKey != nil && b.Algorithm != nil {
		return nil, badField("algorithm", "algorithm chooses the key the server generates; a given privateKey has its own.")
	}
	if b.PrivateKey == nil && b.PublicKey != nil {
		return nil, badField("publicKey", "publicKey goes with privateKey: the server makes the public key of the key it generates.")
	}
	// Before spending a key generation on it.
	if has, err := s.store.HasDkimKey(ctx, domainID); err != nil {
		return nil, err
	} else if has {
		return nil, conflict("The domain has a DKIM key already: replace it with PUT, or DELETE it first.")
	}
	selector, err := s.dkimSelector(ctx, domainID, b.Selector)
	if err != nil {
		return nil, err
	}
	var k *dkim.Key
	if b.PrivateKey != nil {
		k, err = givenKey(*b.PrivateKey, b.PublicKey)
	} else {
		alg := dkim.RSA
		if b.Algorithm != nil && *b.Algorithm == gen.ED25519 {
			alg = dkim.Ed25519
		}
		k, err = dkim.Generate(alg, s.dkimBits)
	}
	if err != nil {
		return nil, err
	}
	row, err := s.sealedRow(domainID, selector, k)
	if err != nil {
		return nil, err
	}
	v, err := s.store.CreateDkimKey(ctx, row)
	if err != nil {
		return nil, about(err, fault.DomainMayNotExist)
	}
	return gen.AddDomainDkim201JSONResponse{Body: dkimRecords(v),
		Headers: gen.AddDomainDkim201ResponseHeaders{Location: s.location("/domains/%s/dkim", req.DomainId)}}, nil
}

// UpdateDomainDkim stores the key given as the domain's, replacing the one
// it had, if any.
func (s *Server) UpdateDomainDkim(ctx context.Context, req gen.UpdateDomainDkimRequestObject) (gen.UpdateDomainDkimResponseObject, error) {
	domainID := targetOf(ctx).key
	if s.sealer == nil {
		return nil, errNoSecretKey
	}
	if req.Body == nil || req.Body.PrivateKey == nil {
		return nil, badField("privateKey", "The private key is required (PEM).")
	}
	k, err := givenKey(*req.Body.PrivateKey, req.Body.PublicKey)
	if err != nil {
		return nil, err
	}
	selector, err := s.dkimSelector(ctx, domainID, req.Body.Selector)
	if err != nil {
		return nil, err
	}
	row, err := s.sealedRow(domainID, selector, k)
	if err != nil {
		return nil, err
	}
	v, err := s.store.PutDkimKey(ctx, row)
	if err != nil {
		return nil, about(err, fault.DomainMayNotExist)
	}
	return gen.UpdateDomainDkim200JSONResponse(dkimRecords(v)), nil
}

// GetDomainDkim answers the records of the domain's key.
func (s *Server) GetDomainDkim(ctx context.Context, req gen.GetDomainDkimRequestObject) (gen.GetDomainDkimResponseObject, error) {
	v, err := s.store.GetDkimKey(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, about(err, fault.DkimKey)
	}
	return gen.GetDomainDkim200JSONResponse(dkimRecords(v)), nil
}

// DeleteDomainDkim removes the domain's key: its mail goes unsigned.
func (s *Server) DeleteDomainDkim(ctx context.Context, req gen.DeleteDomainDkimRequestObject) (gen.DeleteDomainDkimResponseObject, error) {
	if err := s.store.DeleteDkimKey(ctx, targetOf(ctx).key); err != nil {
		return nil, about(err, fault.DkimKey)
	}
	return gen.DeleteDomainDkim204Response{}, nil
}

// dkimSign signs raw, the mail user sends, with its domain's key when the
// domain has one (d= the From's domain: the domain or the alias whose
// record publishes the same key). A key that cannot be used fails the
// send: mail unsigned against the domain's published policy would be
// worse than an error the operator sees.
func (s *Server) dkimSign(ctx context.Context, user *db.User, raw []byte) ([]byte, error) {
	row, err := s.store.SigningKey(ctx, user.DomainID)
	if err != nil || row == nil {
		return raw, err
	}
	if s.sealer == nil {
		return nil, errors.New("the domain has a DKIM key, but CLEANMAIL_SECRET_KEY, which decrypts it, is not configured")
	}
	der, err := s.sealer.Open(row.PrivateKey, sealContext(row.DomainID))
	if err != nil {
		return nil, fmt.Errorf("the DKIM key of domain %d: %w (is CLEANMAIL_SECRET_KEY the key it was stored under?)", row.DomainID, err)
	}
	k, err := dkim.ParseDER(der)
	clear(der)
	if err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(user.Email, "@")
	return dkim.Sign(raw, strings.ToLower(domain), row.Selector, k)
}
