package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// RunDomainDiagnostic checks the domain's DNS now (pkg/dnscheck), stores
// the result as its last diagnostic and returns it.
func (s *Server) RunDomainDiagnostic(ctx context.Context, req gen.RunDomainDiagnosticRequestObject) (gen.RunDomainDiagnosticResponseObject, error) {
	h, err := s.diagnoseDomain(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	out, err := healthOut(h)
	if err != nil {
		return nil, err
	}
	return gen.RunDomainDiagnostic201JSONResponse{Body: out,
		Headers: gen.RunDomainDiagnostic201ResponseHeaders{Location: s.location("/domains/%s/health", req.DomainId)}}, nil
}

// diagnoseDomain checks the DNS of the domain key and stores the result as
// its last diagnostic.
func (s *Server) diagnoseDomain(ctx context.Context, key int64) (*db.DomainHealth, error) {
	if s.dns == nil {
		return nil, fault.PeerFailure("the DNS resolver", errors.New("no resolver is configured"))
	}
	d, err := s.store.DomainRow(ctx, key)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	opts, err := s.store.Effective(ctx, db.OptionOwner{Scope: db.ScopeDomain, ID: key}, "MX_HOST", "DKIM_SELECTOR", "SPF_INCLUDE")
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	expect := dnscheck.Expect{Domain: d.Name, MXHost: opts["MX_HOST"], Selector: opts["DKIM_SELECTOR"], SPFInclude: opts["SPF_INCLUDE"]}
	// A domain with a key must publish it, under the selector it was
	// made for.
	switch k, err := s.store.GetDkimKey(ctx, key); {
	case err == nil:
		expect.Selector, expect.DKIMKey = k.Selector, k.PublicKey
		expect.DKIMRecord = dkim.Record(k.Selector, d.Name, dkim.Algorithm(k.Algorithm), k.PublicKey)
	case fault.KindOf(err) != fault.NotFound:
		return nil, err
	}
	rep := dnscheck.Check(ctx, s.dns, expect)
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	h := &db.DomainHealth{DomainID: key, PerformedAt: time.Now().Unix(), Status: rep.Status, Report: string(raw)}
	if err := s.store.SaveDomainHealth(ctx, h); err != nil {
		return nil, about(err, fault.Domain)
	}
	return h, nil
}

// GetDomainHealth returns the domain's last diagnostic; 404 when it never
// ran.
func (s *Server) GetDomainHealth(ctx context.Context, req gen.GetDomainHealthRequestObject) (gen.GetDomainHealthResponseObject, error) {
	h, err := s.store.GetDomainHealth(ctx, targetOf(ctx).key)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return nil, fault.NotFoundOf(fault.DomainHealth)
		}
		return nil, err
	}
	out, err := healthOut(h)
	if err != nil {
		return nil, err
	}
	return gen.GetDomainHealth200JSONResponse(out), nil
}

func healthOut(h *db.DomainHealth) (gen.EntityHealth, error) {
	var rep dnscheck.Report
	if err := json.Unmarshal([]byte(h.Report), &rep); err != nil {
		return gen.EntityHealth{}, err
	}
	out := gen.EntityHealth{PerformedAt: h.PerformedAt, Report: gen.HealthRecord{Status: rep.Status, Entries: make([]gen.HealthResult, len(rep.Entries))}}
	for i, e := range rep.Entries {
		out.Report.Entries[i] = gen.HealthResult{Type: e.Type, Result: gen.HealthCheckResult(e.Result), Output: e.Output}
	}
	return out, nil
}

// RunPlatformDiagnostic runs the relay checks of a stored platform (its
// transport and fallback, its authentication provider, its remediation
// API), stores the result as its last diagnostic and returns it.
func (s *Server) RunPlatformDiagnostic(ctx context.Context, req gen.RunPlatformDiagnosticRequestObject) (gen.RunPlatformDiagnosticResponseObject, error) {
	h, rec, err := s.diagnosePlatform(ctx, targetOf(ctx).key)
	if err != nil {
		return nil, err
	}
	return gen.RunPlatformDiagnostic201JSONResponse{Body: gen.EntityHealth{PerformedAt: h.PerformedAt, Report: rec},
		Headers: gen.RunPlatformDiagnostic201ResponseHeaders{Location: s.location("/platforms/%s/health", req.PlatformId)}}, nil
}

// diagnosePlatform runs the relay checks of the platform key and stores the
// result as its last diagnostic.
func (s *Server) diagnosePlatform(ctx context.Context, key int64) (*db.PlatformHealth, gen.HealthRecord, error) {
	p, err := s.store.GetPlatform(ctx, key)
	if err != nil {
		return nil, gen.HealthRecord{}, about(err, fault.Platform)
	}
	rec, err := s.relayReport(ctx, s.relayCheckOf(p))
	if err != nil {
		return nil, gen.HealthRecord{}, err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, gen.HealthRecord{}, err
	}
	h := &db.PlatformHealth{PlatformID: key, PerformedAt: time.Now().Unix(), Status: rec.Status, Report: string(raw)}
	if err := s.store.SavePlatformHealth(ctx, h); err != nil {
		return nil, gen.HealthRecord{}, about(err, fault.Platform)
	}
	return h, rec, nil
}

// GetPlatformDiagnostic returns the platform's last diagnostic; 404 when
// it never ran.
func (s *Server) GetPlatformDiagnostic(ctx context.Context, req gen.GetPlatformDiagnosticRequestObject) (gen.GetPlatformDiagnosticResponseObject, error) {
	h, err := s.store.GetPlatformHealth(ctx, targetOf(ctx).key)
	if err != nil {
		if fault.KindOf(err) == fault.NotFound {
			return nil, fault.NotFoundOf(fault.PlatformHealth)
		}
		return nil, err
	}
	var rec gen.HealthRecord
	if err := json.Unmarshal([]byte(h.Report), &rec); err != nil {
		return nil, err
	}
	return gen.GetPlatformDiagnostic200JSONResponse(gen.EntityHealth{PerformedAt: h.PerformedAt, Report: rec}), nil
}

// relayCheckOf is the relay check of a stored platform: its transports,
// and the settings of its authentication provider and remediation API
// (kept as JSON; settings that do not read as such are left out, and
// their checks say that they name no host).
func (s *Server) relayCheckOf(p *db.Platform) *gen.RelayCheck {
	b := &gen.RelayCheck{TransportDest: p.TransportDest, TransportPort: int32(p.TransportPort),
		TransportType: ptr(gen.TransportType(p.TransportType)), FallbackTransportDest: p.FallbackTransportDest}
	if p.FallbackTransportPort != nil {
		b.FallbackTransportPort = ptr(int32(*p.FallbackTransportPort))
	}
	if p.FallbackTransportType != nil {
		b.FallbackTransportType = ptr(gen.TransportType(*p.FallbackTransportType))
	}
	if p.AuthType != nil {
		b.AuthType = gen.AuthType(*p.AuthType)
		var auth gen.AuthSettings
		if raw, ok := s.openSettings(p.AuthData); ok && json.Unmarshal(raw, &auth) == nil {
			b.AuthData = &auth
		}
	}
	if p.APIType != nil {
		b.ApiType = gen.ApiType(*p.APIType)
		var api gen.RemediationApiSettings
		if raw, ok := s.openSettings(p.APIData); ok && json.Unmarshal(raw, &api) == nil {
			b.ApiData = nullable.NewNullableWithValue(api)
		}
	}
	return b
}

// ListHealthErrors lists the domains and platforms within the caller's
// HEALTH reach whose last diagnostic failed, with that diagnostic.
func (s *Server) ListHealthErrors(ctx context.Context, req gen.ListHealthErrorsRequestObject) (gen.ListHealthErrorsResponseObject, error) {
	failing, err := s.store.ListFailing(ctx, targetOf(ctx).reach)
	if err != nil {
		return nil, err
	}
	out := make([]gen.DiagnosticEntry, 0, len(failing))
	for _, f := range failing {
		var rec gen.HealthRecord
		if f.Kind == db.ObjectDomain {
			h, err := healthOut(&db.DomainHealth{PerformedAt: f.PerformedAt, Status: f.Status, Report: f.Report})
			if err != nil {
				return nil, err
			}
			rec = h.Report
		} else if err := json.Unmarshal([]byte(f.Report), &rec); err != nil {
			return nil, err
		}
		out = append(out, gen.DiagnosticEntry{Id: s.id(f.ID), Name: f.Name, Type: string(f.Kind),
			Health: gen.EntityHealth{PerformedAt: f.PerformedAt, Report: rec}})
	}
	return gen.ListHealthErrors200JSONResponse{Body: out, Headers: gen.ListHealthErrors200ResponseHeaders{XTotalCount: int64(len(out))}}, nil
}
