package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/dnscheck"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// RunDomainDiagnostic checks the domain's DNS now (pkg/dnscheck), stores
// the result as its last diagnostic and returns it.
func (s *Server) RunDomainDiagnostic(ctx context.Context, req gen.RunDomainDiagnosticRequestObject) (gen.RunDomainDiagnosticResponseObject, error) {
	key := targetOf(ctx).key
	if s.dns == nil {
		return nil, fault.PeerFailure("the DNS resolver", errors.New("no resolver is configured"))
	}
	d, err := s.store.GetDomain(ctx, key)
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
	out, err := healthOut(h)
	if err != nil {
		return nil, err
	}
	return gen.RunDomainDiagnostic201JSONResponse{Body: out,
		Headers: gen.RunDomainDiagnostic201ResponseHeaders{Location: s.location("/domains/%s/health", req.DomainId)}}, nil
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
