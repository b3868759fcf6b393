package api

import (
	"context"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Default settings of a new domain's policy, as the doc's create example
// shows them.
const (
	defaultMailSizeLimit = 21
	defaultSpamScore     = 5.0
)

func defaultRelayProps() *db.RelayProps {
	return &db.RelayProps{RelayAdvert: true, AdvertPrefix: ptr(""), SpamScoreLimit: defaultSpamScore}
}

func defaultQuarantineProps() *db.QuarantineProps {
	return &db.QuarantineProps{Duration: 31, StoreSpam: true, StoreBadHeaders: true, StoreBadEncoding: true, StoreBadAttachments: true}
}

func defaultRetentionProps() *db.RetentionProps {
	return &db.RetentionProps{Duration: 5, StoreMailOut: true, StoreCleanMailIn: true}
}

func defaultArchiveProps() *db.ArchiveProps {
	return &db.ArchiveProps{Duration: 48, StoreMailOut: true, StoreCleanMailIn: true, StoreSpam: true,
		StoreBadHeaders: true, StoreBadEncoding: true, StoreBadAttachments: true}
}

// syncServiceProps keeps a policy's settings present exactly for its
// enabled services: a service switched on gets the default settings if it
// has none, one switched off loses them.
func syncServiceProps(p *db.Policy) {
	switch {
	case p.Quarantine && p.QuarantineProps == nil:
		p.QuarantineProps = defaultQuarantineProps()
	case !p.Quarantine:
		p.QuarantineProps = nil
	}
	switch {
	case p.Retention && p.RetentionProps == nil:
		p.RetentionProps = defaultRetentionProps()
	case !p.Retention:
		p.RetentionProps = nil
	}
	switch {
	case p.Archive && p.ArchiveProps == nil:
		p.ArchiveProps = defaultArchiveProps()
	case !p.Archive:
		p.ArchiveProps = nil
	}
	if p.RelayProps == nil {
		p.RelayProps = defaultRelayProps()
	}
}

func (s *Server) policyOut(p *db.Policy) gen.Policy {
	out := gen.Policy{
		Id:            s.id(p.ID),
		Name:          p.Name,
		DomainId:      s.id(p.DomainID),
		Quarantine:    p.Quarantine,
		Retention:     p.Retention,
		Archive:       p.Archive,
		Incoming:      p.Incoming,
		Outgoing:      p.Outgoing,
		MailSizeLimit: int32(p.MailSizeLimit),
		SpamScore:     float32(p.SpamScore),
	}
	// A policy's relay settings are stored with it (syncServiceProps); one
	// stored without them relays with the defaults, which a write would
	// store.
	r := p.RelayProps
	if r == nil {
		r = defaultRelayProps()
	}
	out.RelayProps = gen.RelayProps{
		RelaySpam: r.RelaySpam, RelayAdvert: r.RelayAdvert, AdvertPrefix: deref(r.AdvertPrefix, ""),
		PrefixSpam: null(r.PrefixSpam), RelayBadHeaders: r.RelayBadHeaders,
		RelayBadAttachments: r.RelayBadAttachments, SpamScoreLimit: float32(r.SpamScoreLimit),
	}
	var q *gen.QuarantineProps
	if x := p.QuarantineProps; x != nil {
		q = &gen.QuarantineProps{Duration: int32(x.Duration), StoreSpam: x.StoreSpam, StoreVirus: x.StoreVirus,
			StoreAdvert: x.StoreAdvert, StoreBlacklisted: x.StoreBlacklisted, StoreSenderVerify: x.StoreSenderVerify,
			StoreBadHeaders: x.StoreBadHeaders, StoreBadEncoding: x.StoreBadEncoding, StoreBadAttachments: x.StoreBadAttachments}
	}
	out.QuarantineProps = null(q)
	var rp *gen.RetentionProps
	if x := p.RetentionProps; x != nil {
		rp = &gen.RetentionProps{Duration: int32(x.Duration), StoreMailOut: x.StoreMailOut, StoreCleanMailIn: x.StoreCleanMailIn}
	}
	out.RetentionProps = null(rp)
	var a *gen.ArchiveProps
	if x := p.ArchiveProps; x != nil {
		a = &gen.ArchiveProps{Duration: int32(x.Duration), ArchiveByCopy: x.ArchiveByCopy, StoreMailOut: x.StoreMailOut,
			StoreCleanMailIn: x.StoreCleanMailIn, StoreSpam: x.StoreSpam, StoreBadHeaders: x.StoreBadHeaders,
			StoreBadEncoding: x.StoreBadEncoding, StoreBadAttachments: x.StoreBadAttachments, StoreAdvert: x.StoreAdvert,
			StoreBlacklisted: x.StoreBlacklisted, StoreSenderVerify: x.StoreSenderVerify}
	}
	out.ArchiveProps = null(a)
	return out
}

// policyPatch is the create body as a patch: every field present.
func policyPatch(in *gen.PolicyAdd) *gen.PolicyUpdate {
	return &gen.PolicyUpdate{
		Name: &in.Name, Quarantine: &in.Quarantine, Retention: &in.Retention,
		Archive: in.Archive, Incoming: &in.Incoming, Outgoing: in.Outgoing, MailSizeLimit: in.MailSizeLimit,
		SpamScore: in.SpamScore, RelayProps: in.RelayProps, QuarantineProps: in.QuarantineProps,
		RetentionProps: in.RetentionProps, ArchiveProps: in.ArchiveProps,
	}
}

// applyPolicy copies the fields present in in onto p (PATCH semantics: an
// absent field keeps its value; a present settings object is merged field
// by field). Settings exist exactly for the enabled services.
func applyPolicy(p *db.Policy, in *gen.PolicyUpdate) error {
	if in.Name != nil {
		if *in.Name == "" {
			return badField("name", "must not be empty")
		}
		p.Name = *in.Name
	}
	setIf(&p.Quarantine, in.Quarantine)
	setIf(&p.Retention, in.Retention)
	setIf(&p.Archive, in.Archive)
	setIf(&p.Incoming, in.Incoming)
	setIf(&p.Outgoing, in.Outgoing)
	if in.MailSizeLimit != nil {
		if *in.MailSizeLimit <= 0 {
			return badField("mailSizeLimit", "must be a positive number of megabytes")
		}
		p.MailSizeLimit = int(*in.MailSizeLimit)
	}
	if in.SpamScore != nil {
		p.SpamScore = float64(*in.SpamScore)
	}
	if r := in.RelayProps; r != nil {
		if p.RelayProps == nil {
			p.RelayProps = defaultRelayProps()
		}
		x := p.RelayProps
		setIf(&x.RelaySpam, r.RelaySpam)
		setIf(&x.RelayAdvert, r.RelayAdvert)
		if r.AdvertPrefix != nil {
			x.AdvertPrefix = r.AdvertPrefix
		}
		nullableSet(&x.PrefixSpam, r.PrefixSpam)
		setIf(&x.RelayBadHeaders, r.RelayBadHeaders)
		setIf(&x.RelayBadAttachments, r.RelayBadAttachments)
		if r.SpamScoreLimit != nil {
			x.SpamScoreLimit = float64(*r.SpamScoreLimit)
		}
	}
	if q, err := in.QuarantineProps.Get(); err == nil {
		if p.QuarantineProps == nil {
			p.QuarantineProps = defaultQuarantineProps()
		}
		x := p.QuarantineProps
		if err := setDuration(&x.Duration, q.Duration, "quarantineProps.duration"); err != nil {
			return err
		}
		setIf(&x.StoreSpam, q.StoreSpam)
		setIf(&x.StoreVirus, q.StoreVirus)
		setIf(&x.StoreAdvert, q.StoreAdvert)
		setIf(&x.StoreBlacklisted, q.StoreBlacklisted)
		setIf(&x.StoreSenderVerify, q.StoreSenderVerify)
		setIf(&x.StoreBadHeaders, q.StoreBadHeaders)
		setIf(&x.StoreBadEncoding, q.StoreBadEncoding)
		setIf(&x.StoreBadAttachments, q.StoreBadAttachments)
	}
	if r, err := in.RetentionProps.Get(); err == nil {
		if p.RetentionProps == nil {
			p.RetentionProps = defaultRetentionProps()
		}
		x := p.RetentionProps
		if err := setDuration(&x.Duration, r.Duration, "retentionProps.duration"); err != nil {
			return err
		}
		setIf(&x.StoreMailOut, r.StoreMailOut)
		setIf(&x.StoreCleanMailIn, r.StoreCleanMailIn)
	}
	if a, err := in.ArchiveProps.Get(); err == nil {
		if p.ArchiveProps == nil {
			p.ArchiveProps = defaultArchiveProps()
		}
		x := p.ArchiveProps
		if err := setDuration(&x.Duration, a.Duration, "archiveProps.duration"); err != nil {
			return err
		}
		setIf(&x.ArchiveByCopy, a.ArchiveByCopy)
		setIf(&x.StoreMailOut, a.StoreMailOut)
		setIf(&x.StoreCleanMailIn, a.StoreCleanMailIn)
		setIf(&x.StoreSpam, a.StoreSpam)
		setIf(&x.StoreBadHeaders, a.StoreBadHeaders)
		setIf(&x.StoreBadEncoding, a.StoreBadEncoding)
		setIf(&x.StoreBadAttachments, a.StoreBadAttachments)
		setIf(&x.StoreAdvert, a.StoreAdvert)
		setIf(&x.StoreBlacklisted, a.StoreBlacklisted)
		setIf(&x.StoreSenderVerify, a.StoreSenderVerify)
	}
	syncServiceProps(p)
	return nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func setDuration(dst *int, v *int32, field string) error {
	if v == nil {
		return nil
	}
	if *v <= 0 {
		return badField(field, "must be a positive number")
	}
	*dst = int(*v)
	return nil
}

// CreatePolicy adds a policy to a domain (sysadmin only).
func (s *Server) CreatePolicy(ctx context.Context, req gen.CreatePolicyRequestObject) (gen.CreatePolicyResponseObject, error) {
	domainID := targetOf(ctx).key
	p := &db.Policy{DomainID: domainID, MailSizeLimit: defaultMailSizeLimit, SpamScore: defaultSpamScore}
	if err := applyPolicy(p, policyPatch(req.Body)); err != nil {
		return nil, err
	}
	if err := s.store.CreatePolicy(ctx, p); err != nil {
		if isConflict(err) {
			return nil, conflict("A policy may already exists with the given name")
		}
		return nil, err
	}
	return gen.CreatePolicy201JSONResponse{
		Body:    s.policyOut(p),
		Headers: gen.CreatePolicy201ResponseHeaders{Location: s.location("/policies/%s", s.id(p.ID))},
	}, nil
}

// GetPolicy returns one policy.
func (s *Server) GetPolicy(ctx context.Context, req gen.GetPolicyRequestObject) (gen.GetPolicyResponseObject, error) {
	id := targetOf(ctx).key
	p, err := s.store.GetPolicy(ctx, id)
	if err != nil {
		return nil, about(err, fault.Policy)
	}
	return gen.GetPolicy200JSONResponse(s.policyOut(p)), nil
}

// ListDomainPolicies lists a domain's policies.
func (s *Server) ListDomainPolicies(ctx context.Context, req gen.ListDomainPoliciesRequestObject) (gen.ListDomainPoliciesResponseObject, error) {
	domainID := targetOf(ctx).key
	p := req.Params
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	rows, total, next, err := s.store.ListPolicies(ctx, domainID, db.PolicyFilter{}, pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.Policy, len(rows))
	for i := range rows {
		out[i] = s.policyOut(&rows[i])
	}
	return gen.ListDomainPolicies200JSONResponse{Body: out, Headers: gen.ListDomainPolicies200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// UpdatePolicy changes the fields present in the body (sysadmin only).
func (s *Server) UpdatePolicy(ctx context.Context, req gen.UpdatePolicyRequestObject) (gen.UpdatePolicyResponseObject, error) {
	id := targetOf(ctx).key
	_, err := s.store.UpdatePolicy(ctx, id, func(p *db.Policy) error { return applyPolicy(p, req.Body) })
	if err != nil {
		if isConflict(err) {
			return nil, conflict("A policy may already exists with the given name")
		}
		return nil, about(err, fault.Policy)
	}
	return gen.UpdatePolicy204Response{}, nil
}

// DeletePolicy deletes a policy nothing uses (sysadmin only).
func (s *Server) DeletePolicy(ctx context.Context, req gen.DeletePolicyRequestObject) (gen.DeletePolicyResponseObject, error) {
	id := targetOf(ctx).key
	if err := s.store.DeletePolicy(ctx, id); err != nil {
		return nil, about(err, fault.Policy)
	}
	return gen.DeletePolicy204Response{}, nil
}
