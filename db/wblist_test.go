package db

import "testing"

func TestDecide(t *testing.T) {
	user, domain := int64(1), int64(2)
	rule := func(owner string, value, typ string) WblistView {
		r := WblistView{WblistRule: WblistRule{Value: value, Type: typ}, Owner: owner}
		if owner == "mailbox" {
			r.UserID = &user
		} else {
			r.DomainID = &domain
		}
		return r
	}
	candidates := []string{"a@mail.x.net", "mail.x.net", "x.net"}
	for _, tc := range []struct {
		name     string
		rules    []WblistView
		priority string
		want     string // "TYPE owner value", or "" for no decision
		overrule bool
	}{
		{"nothing", nil, PriorityUser, "", false},
		{"protected decides nothing", []WblistView{rule("domain", "x.net", WblistProtected)}, PriorityUser, "", false},
		{"domain alone", []WblistView{rule("domain", "x.net", WblistBlock)}, PriorityUser, "BLOCK domain x.net", false},
		{"most specific wins within an owner", []WblistView{rule("domain", "x.net", WblistBlock), rule("domain", "a@mail.x.net", WblistAllow)}, PriorityUser, "ALLOW domain a@mail.x.net", false},
		{"subdomain before parent", []WblistView{rule("domain", "x.net", WblistAllow), rule("domain", "mail.x.net", WblistBlock)}, PriorityUser, "BLOCK domain mail.x.net", false},
		{"block wins a tie", []WblistView{rule("mailbox", "x.net", WblistAllow), rule("mailbox", "x.net", WblistBlock)}, PriorityUser, "BLOCK mailbox x.net", false},
		{"user priority", []WblistView{rule("domain", "a@mail.x.net", WblistBlock), rule("mailbox", "x.net", WblistAllow)}, PriorityUser, "ALLOW mailbox x.net", true},
		{"domain priority", []WblistView{rule("domain", "x.net", WblistBlock), rule("mailbox", "a@mail.x.net", WblistAllow)}, PriorityDomain, "BLOCK domain x.net", true},
		{"agreement reports the priority side", []WblistView{rule("domain", "x.net", WblistBlock), rule("mailbox", "x.net", WblistBlock)}, PriorityDomain, "BLOCK domain x.net", false},
		{"unrelated value", []WblistView{rule("domain", "y.net", WblistBlock)}, PriorityUser, "", false},
	} {
		d := Decide(tc.rules, candidates, tc.priority)
		got := ""
		if d.Rule != nil {
			got = d.Type + " " + d.Rule.Owner + " " + d.Rule.Value
		}
		if got != tc.want || (d.Overruled != nil) != tc.overrule {
			t.Errorf("%s: got %q (overruled %v), want %q (overruled %v)", tc.name, got, d.Overruled != nil, tc.want, tc.overrule)
		}
	}
}
