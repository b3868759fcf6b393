package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/names"
)

func itoa(i int) string { return strconv.Itoa(i) }

// domainOut converts a stored domain, with everything embedded, for the wire.
func (s *Server) domainOut(v *db.DomainView) gen.Domain {
	d := v.Domain
	out := gen.Domain{
		Id:                 s.id(d.ID),
		Name:               d.Name,
		Description:        null(d.Description),
		Status:             gen.DomainStatus(d.Status),
		WblistPriority:     gen.WblistPriority(d.WblistPriority),
		DefaultLanguage:    gen.Language(d.DefaultLanguage),
		AutoProvisioningOn: d.AutoProvisioningOn,
		SenderVerifyOn:     d.SenderVerifyOn,
		ExternalId:         null(d.ExternalID),
		ActiveUsersCount:   v.ActiveUsersCount,
		PoliciesCount:      int32(v.PoliciesCount),
		Quarantine:         v.Quarantine,
		Retention:          v.Retention,
		Archive:            v.Archive,
		Incoming:           v.Incoming,
		OutgoingSubnets:    append([]string{}, d.OutgoingSubnets...),
		CreationDate:       d.CreationDate,
		DeletionDate:       null(d.DeletionDate),
		PurgeDate:          null(d.PurgeDate),
		DomainAliases:      make([]gen.Alias, len(v.Aliases)),
		OutgoingProviders:  make([]gen.OutgoingProvider, len(v.OutgoingProviders)),
		Platforms:          make([]gen.Platform, len(v.Platforms)),
	}
	// Every domain has its default policy: it is created with the domain,
	// and a policy that is one cannot be deleted.
	if v.Policy != nil {
		out.Policy = s.policyOut(v.Policy)
	}
	for i, a := range v.Aliases {
		out.DomainAliases[i] = s.aliasOut(a)
	}
	for i, p := range v.OutgoingProviders {
		out.OutgoingProviders[i] = s.outgoingProviderOut(p)
	}
	if v.Customer != nil {
		out.Customer = ptr(s.customerOut(v.Customer))
	}
	for i := range v.Platforms {
		out.Platforms[i] = s.platformOut(&v.Platforms[i])
	}
	return out
}

func (s *Server) outgoingProviderOut(p db.OutgoingProvider) gen.OutgoingProvider {
	return gen.OutgoingProvider{Id: s.id(p.ID), Name: p.Name, SpfProvider: p.SpfProvider, Active: p.Active}
}

func (s *Server) customerOut(c *db.Customer) gen.Customer {
	out := gen.Customer{Id: s.id(c.ID), BrokerId: nullOf[string](), Name: c.Name,
		Description: null(c.Description), ExternalId: null(c.ExternalID), CreatedAt: c.CreatedAt}
	if c.BrokerID != nil {
		out.BrokerId.Set(s.id(*c.BrokerID))
	}
	return out
}

// platformOut never returns credentials: authData and apiData are null.
func (s *Server) platformOut(p *db.Platform) gen.Platform {
	var authData gen.PlatformAuthData
	_ = authData.UnmarshalJSON([]byte("null"))
	out := gen.Platform{
		Id:                    s.id(p.ID),
		Name:                  p.Name,
		TransportDest:         p.TransportDest,
		TransportType:         gen.TransportType(p.TransportType),
		TransportPort:         int32(p.TransportPort),
		FallbackTransportDest: null(p.FallbackTransportDest),
		FallbackTransportPort: nullOf[int32](),
		FallbackTransportType: nullOf[gen.TransportType](),
		ApiType:               nullOf[gen.ApiType](),
		ApiData:               nullOf[gen.RemediationApiSettings](),
		AuthType:              nullOf[gen.AuthType](),
		AuthData:              authData,
		Default:               p.IsDefault,
	}
	if p.FallbackTransportPort != nil {
		out.FallbackTransportPort.Set(int32(*p.FallbackTransportPort))
	}
	if p.FallbackTransportType != nil {
		out.FallbackTransportType.Set(gen.TransportType(*p.FallbackTransportType))
	}
	if p.APIType != nil {
		out.ApiType.Set(gen.ApiType(*p.APIType))
	}
	if p.AuthType != nil {
		out.AuthType.Set(gen.AuthType(*p.AuthType))
	}
	return out
}

// platformsIn validates platforms given inline and keeps their credentials
// (as JSON) for the relay; they are never returned. A domain with
// platforms has exactly one default (the first, unless one is marked).
func (s *Server) platformsIn(field string, in []gen.PlatformAdd) ([]db.Platform, error) {
	out := make([]db.Platform, len(in))
	defaults := 0
	for i, p := range in {
		patch := gen.PlatformUpdate{
			Name: &p.Name, TransportDest: &p.TransportDest, TransportType: &p.TransportType, TransportPort: &p.TransportPort,
			FallbackTransportDest: p.FallbackTransportDest, FallbackTransportPort: p.FallbackTransportPort,
			FallbackTransportType: p.FallbackTransportType, ApiType: p.ApiType, ApiData: p.ApiData,
			AuthType: p.AuthType, AuthData: p.AuthData, Default: p.Default,
		}
		if err := s.applyPlatform(&out[i], &patch, field+"."+itoa(i)); err != nil {
			return nil, err
		}
		if out[i].IsDefault {
			defaults++
		}
	}
	if defaults > 1 {
		return nil, badField(field, "at most one platform can be the default")
	}
	if defaults == 0 && len(out) > 0 {
		out[0].IsDefault = true
	}
	return out, nil
}

// applyPlatform copies the fields present in in onto p, validating them;
// f prefixes the names of bad fields.
func (s *Server) applyPlatform(p *db.Platform, in *gen.PlatformUpdate, f string) error {
	if in.Name != nil {
		if *in.Name == "" {
			return badField(f+".name", "must not be empty")
		}
		p.Name = *in.Name
	}
	if in.TransportDest != nil {
		if *in.TransportDest == "" {
			return badField(f+".transportDest", "must not be empty")
		}
		p.TransportDest = *in.TransportDest
	}
	if in.TransportType != nil {
		p.TransportType = string(*in.TransportType)
	}
	if in.TransportPort != nil {
		if *in.TransportPort < 1 || *in.TransportPort > 65535 {
			return badField(f+".transportPort", "must be a port number (1 to 65535)")
		}
		p.TransportPort = int(*in.TransportPort)
	}
	nullableSet(&p.FallbackTransportDest, in.FallbackTransportDest)
	if in.FallbackTransportPort.IsSpecified() {
		p.FallbackTransportPort = nil
		if v, err := in.FallbackTransportPort.Get(); err == nil {
			if v < 1 || v > 65535 {
				return badField(f+".fallbackTransportPort", "must be a port number (1 to 65535)")
			}
			p.FallbackTransportPort = ptr(int(v))
		}
	}
	if in.FallbackTransportType.IsSpecified() {
		p.FallbackTransportType = nil
		if v, err := in.FallbackTransportType.Get(); err == nil {
			p.FallbackTransportType = ptr(string(v))
		}
	}
	if in.ApiType.IsSpecified() {
		p.APIType = nil
		if v, err := in.ApiType.Get(); err == nil {
			p.APIType = ptr(string(v))
		}
	}
	if in.ApiData.IsSpecified() {
		p.APIData = nil
		if v, err := in.ApiData.Get(); err == nil {
			raw, err := json.Marshal(v)
			if err != nil {
				return badField(f+".apiData", "cannot be stored: %v", err)
			}
			if p.APIData, err = s.sealSettings(raw); err != nil {
				return err
			}
		}
	}
	if in.AuthType != nil {
		p.AuthType = ptr(string(*in.AuthType))
	}
	if in.AuthData != nil {
		p.AuthData = nil
		if raw, err := in.AuthData.MarshalJSON(); err == nil && string(raw) != "null" && string(raw) != `""` {
			if p.AuthData, err = s.sealSettings(raw); err != nil {
				return err
			}
		}
	}
	setIf(&p.IsDefault, in.Default)
	return nil
}

func (s *Server) providerKeys(field string, in *[]string) ([]int64, error) {
	if in == nil {
		return nil, nil
	}
	keys := make([]int64, len(*in))
	for i, id := range *in {
		k, err := s.refKey(id, field+"."+itoa(i), "outgoing provider")
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// CreateDomain creates a domain with its default policy (sysadmin only).
func (s *Server) CreateDomain(ctx context.Context, req gen.CreateDomainRequestObject) (gen.CreateDomainResponseObject, error) {
	in := req.Body
	name, err := named("name", in.Name, names.Domain)
	if err != nil {
		return nil, err
	}
	if in.Status == db.StatusDeleted {
		return nil, badField("status", "a domain cannot be created DELETED")
	}
	nets, err := subnets("outgoingSubnets", deref(in.OutgoingSubnets, nil))
	if err != nil {
		return nil, err
	}
	platforms, err := s.platformsIn("platforms", deref(in.Platforms, nil))
	if err != nil {
		return nil, err
	}
	providers, err := s.providerKeys("outgoingProvidersIds", in.OutgoingProvidersIds)
	if err != nil {
		return nil, err
	}
	d := db.Domain{
		Name:               name,
		Description:        in.Description,
		Status:             string(in.Status),
		WblistPriority:     string(deref(in.WblistPriority, gen.WblistPriority("USER"))),
		DefaultLanguage:    string(in.DefaultLanguage),
		AutoProvisioningOn: deref(in.AutoProvisioningOn, false),
		SenderVerifyOn:     deref(in.SenderVerifyOn, true),
		ExternalID:         in.ExternalId,
		OutgoingSubnets:    nets,
	}
	if in.CustomerId != nil {
		key, err := s.refKey(*in.CustomerId, "customerId", "customer")
		if err != nil {
			return nil, err
		}
		d.CustomerID = &key
	}
	policy := db.Policy{
		Name:          "Politique-" + name,
		Quarantine:    in.Quarantine,
		Retention:     in.Retention,
		Archive:       in.Archive,
		Incoming:      deref(in.Incoming, true),
		Outgoing:      deref(in.Outgoing, false),
		MailSizeLimit: defaultMailSizeLimit,
		SpamScore:     defaultSpamScore,
	}
	syncServiceProps(&policy)
	id, err := s.store.CreateDomain(ctx, &db.NewDomain{Domain: d, Policy: policy, Platforms: platforms, OutgoingProviderIDs: providers})
	if err != nil {
		if isConflict(err) {
			return nil, conflict("A domain or domain alias already exists with the name %s", name)
		}
		return nil, err
	}
	v, err := s.store.GetDomain(ctx, id)
	if err != nil {
		return nil, err
	}
	return gen.CreateDomain201JSONResponse{
		Body:    s.domainOut(v),
		Headers: gen.CreateDomain201ResponseHeaders{Location: s.location("/domains/%s", s.id(id))},
	}, nil
}

// GetDomain returns one domain: its row as the access layer read it with
// its lineage (resolve), with what a domain embeds.
func (s *Server) GetDomain(ctx context.Context, req gen.GetDomainRequestObject) (gen.GetDomainResponseObject, error) {
	v, err := s.store.DomainView(ctx, targetOf(ctx).lineage.Domain)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.GetDomain200JSONResponse(s.domainOut(v)), nil
}

// ListDomains lists the domains matching the filters.
func (s *Server) ListDomains(ctx context.Context, req gen.ListDomainsRequestObject) (gen.ListDomainsResponseObject, error) {
	p := req.Params
	f := db.DomainFilter{
		Name:         match(p.Name),
		ExternalID:   match(p.ExternalId),
		PlatformName: match(p.PlatformName),
		CustomerID:   s.filterKey(p.CustomerId),
		PlatformID:   s.filterKey(p.PlatformId),
	}
	if p.Status != nil {
		f.Status = ptr(string(*p.Status))
	}
	f.Reach = readReach(principalFrom(ctx), PermDomainRead)
	pg, err := s.listPage(ctx, p.Offset, p.PageSize, p.Sort, p.Cursor)
	if err != nil {
		return nil, err
	}
	views, total, next, err := s.store.ListDomains(ctx, f, pg)
	if err != nil {
		return nil, err
	}
	out := make([]gen.Domain, len(views))
	for i := range views {
		out[i] = s.domainOut(&views[i])
	}
	return gen.ListDomains200JSONResponse{Body: out, Headers: gen.ListDomains200ResponseHeaders{XTotalCount: total, Link: s.nextLink(ctx, next)}}, nil
}

// UpdateDomain applies the fields present in the body. A DELETED domain is
// restored by setting another status (which clears its deletion and purge
// dates), and accepts no other change until then.
func (s *Server) UpdateDomain(ctx context.Context, req gen.UpdateDomainRequestObject) (gen.UpdateDomainResponseObject, error) {
	id := targetOf(ctx).key
	var err error
	in := req.Body
	// Validate what needs no stored state before opening the transaction.
	var name string
	if in.Name != nil {
		if name, err = named("name", *in.Name, names.Domain); err != nil {
			return nil, err
		}
	}
	var nets []string
	if in.OutgoingSubnets != nil {
		if nets, err = subnets("outgoingSubnets", *in.OutgoingSubnets); err != nil {
			return nil, err
		}
	}
	var platforms []db.Platform
	if in.Platforms != nil {
		if platforms, err = s.platformsIn("platforms", *in.Platforms); err != nil {
			return nil, err
		}
	}
	providers, err := s.providerKeys("outgoingProvidersIds", in.OutgoingProvidersIds)
	if err != nil {
		return nil, err
	}
	var customerID, policyID *int64
	if in.CustomerId != nil {
		k, err := s.refKey(*in.CustomerId, "customerId", "customer")
		if err != nil {
			return nil, err
		}
		customerID = &k
	}
	if in.PolicyId != nil {
		k, err := s.refKey(*in.PolicyId, "policyId", "policy of this domain")
		if err != nil {
			return nil, err
		}
		policyID = &k
	}

	if in.Status != nil && *in.Status != gen.DomainStatusENABLED && req.Params.XIgnoreMX == nil {
		if err := s.mxStillHere(ctx, id); err != nil {
			return nil, err
		}
	}
	err = s.store.UpdateDomain(ctx, id, func(e *db.DomainEdit) error {
		d := &e.Domain
		wasDeleted := d.Status == db.StatusDeleted
		if in.Status != nil {
			switch st := string(*in.Status); {
			case st == db.StatusDeleted && !wasDeleted:
				s.markDeleted(d)
			case st != db.StatusDeleted:
				d.Status, d.DeletionDate, d.PurgeDate = st, nil, nil
			}
		}
		if wasDeleted && d.Status == db.StatusDeleted && !onlyStatus(in) {
			return unprocessable("The domain is deleted: restore it first by setting its status.")
		}
		if in.Name != nil {
			d.Name = name
		}
		nullableSet(&d.Description, in.Description)
		nullableSet(&d.ExternalID, in.ExternalId)
		if in.WblistPriority != nil {
			d.WblistPriority = string(*in.WblistPriority)
		}
		if in.DefaultLanguage != nil {
			d.DefaultLanguage = string(*in.DefaultLanguage)
		}
		setIf(&d.AutoProvisioningOn, in.AutoProvisioningOn)
		setIf(&d.SenderVerifyOn, in.SenderVerifyOn)
		if customerID != nil && (d.CustomerID == nil || *d.CustomerID != *customerID) {
			if err := s.mayMoveDomain(ctx, principalFrom(ctx), d.CustomerID, *customerID); err != nil {
				return err
			}
			d.CustomerID = customerID
		}
		if policyID != nil {
			d.PolicyID = policyID
		}
		if in.OutgoingSubnets != nil {
			d.OutgoingSubnets = nets
		}
		if in.Platforms != nil {
			e.Platforms = &platforms
		}
		if in.OutgoingProvidersIds != nil {
			e.OutgoingProviderIDs = &providers
		}
		if in.Quarantine != nil || in.Retention != nil || in.Archive != nil {
			if e.Policy == nil || (policyID != nil && *policyID != e.Policy.ID) {
				return unprocessable("quarantine, retention and archive change the domain's current default policy: change them apart from policyId")
			}
			setIf(&e.Policy.Quarantine, in.Quarantine)
			setIf(&e.Policy.Retention, in.Retention)
			setIf(&e.Policy.Archive, in.Archive)
			syncServiceProps(e.Policy)
		}
		return nil
	})
	if err != nil {
		if isConflict(err) {
			return nil, conflict("A domain or domain alias already exists with the name %s", name)
		}
		return nil, about(err, fault.Domain)
	}
	return gen.UpdateDomain204Response{}, nil
}

// mayMoveDomain decides whether p may move a domain from one customer
// (none when from is nil) to another: that takes the domain from the
// first customer's administrators and gives it to the second's, so it
// needs DOMAIN_EDIT through an authority over each customer (on it, or on
// its broker); an authority on the domain alone is not enough.
func (s *Server) mayMoveDomain(ctx context.Context, p *Principal, from *int64, to int64) error {
	if p.SysAdmin() {
		return nil
	}
	for _, c := range []*int64{from, &to} {
		if c == nil {
			continue
		}
		l, err := s.store.CustomerLineage(ctx, *c)
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
		ok := false
		for i := range p.Authorities {
			if a := &p.Authorities[i]; err == nil && a.DomainID == nil && a.Covers(l) && a.Has(string(PermDomainEdit)) {
				ok = true
			}
		}
		if !ok {
			// An unknown target customer is answered the same way: its
			// existence is not the caller's to learn.
			return forbidden("Moving a domain to another customer needs DOMAIN_EDIT on both customers (or their brokers).")
		}
	}
	return nil
}

// onlyStatus reports whether a domain update carries nothing but a status.
func onlyStatus(in *gen.DomainUpdate) bool {
	probe := *in
	probe.Status = nil
	raw, _ := json.Marshal(probe)
	return string(raw) == "{}"
}

func (s *Server) markDeleted(d *db.Domain) {
	now := time.Now()
	d.Status = db.StatusDeleted
	d.DeletionDate = ptr(now.UnixMilli())
	d.PurgeDate = ptr(now.Add(s.purgeDelay).UnixMilli())
}

// DeleteDomain tags a domain DELETED: its services stop, and it is purged
// for good after the purge delay unless restored before (sysadmin only).
func (s *Server) DeleteDomain(ctx context.Context, req gen.DeleteDomainRequestObject) (gen.DeleteDomainResponseObject, error) {
	id := targetOf(ctx).key
	if req.Params.XIgnoreMX == nil {
		if err := s.mxStillHere(ctx, id); err != nil {
			return nil, err
		}
	}
	err := s.store.UpdateDomain(ctx, id, func(e *db.DomainEdit) error {
		if e.Domain.Status == db.StatusDeleted {
			return unprocessable("The domain is already deleted; it will be purged on its purge date.")
		}
		s.markDeleted(&e.Domain)
		return nil
	})
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return gen.DeleteDomain204Response{}, nil
}

// subnets validates the a.b.c.d/y (or IPv6) prefixes of outgoingSubnets.
func subnets(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, badField(field+"."+itoa(i), "%q is not a subnet in a.b.c.d/y form", s)
		}
		if !seen[p.String()] {
			seen[p.String()] = true
			out = append(out, p.String())
		}
	}
	return out, nil
}

// mxStillHere refuses (422) to stop serving a domain whose MX records still
// point to the service (the MX_HOST option): its mail would bounce. The
// doc's X-Ignore-MX header skips it. Without MX_HOST, or when the resolver
// does not answer (nothing is known to be lost), it lets the change
// through; the latter is logged.
func (s *Server) mxStillHere(ctx context.Context, id int64) error {
	if s.dns == nil {
		return nil
	}
	d, err := s.store.DomainRow(ctx, id)
	if err != nil {
		return about(err, fault.Domain)
	}
	if d.Status != db.StatusEnabled {
		return nil // not served now: nothing to lose
	}
	opts, err := s.store.Effective(ctx, db.OptionOwner{Scope: db.ScopeDomain, ID: id}, "MX_HOST")
	if err != nil || opts["MX_HOST"] == "" {
		return about(err, fault.Domain)
	}
	here, err := s.dns.PointsTo(ctx, d.Name, opts["MX_HOST"])
	if err != nil {
		s.log.WarnContext(ctx, "MX check skipped: the resolver did not answer", "domain", d.Name, "err", err)
		return nil
	}
	if here {
		return unprocessable("The MX entries of %s still point to the service (%s): its mail would bounce. Point them elsewhere first, or send the X-Ignore-MX header.", d.Name, opts["MX_HOST"])
	}
	return nil
}
