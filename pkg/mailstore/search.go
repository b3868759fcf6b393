package mailstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/listing"
)

// Operator combines the text criteria of a Query.
type Operator string

// The operators: every criterion, any of them, none of them.
const (
	And Operator = "AND"
	Or  Operator = "OR"
	Not Operator = "NOT"
)

// Query selects messages of a folder. The text criteria are IMAP SEARCH's
// (case-insensitive substrings of the header or the body; a `*` in one
// splits it into parts that must all appear), combined by Operator; the
// dates always restrict, to the millisecond.
type Query struct {
	ReceivedAfter, ReceivedBefore *time.Time
	From, To, Cc, Subject, Body   string
	// ID matches the Message-ID or the X-Fuglu-Id header.
	ID       string
	Operator Operator
	// Without leaves out the messages that carry any of these flags,
	// whatever the operator.
	Without []imap.Flag
}

// Sorts are the sort fields of a folder's messages.
var Sorts = []string{"sentDate", "receivedDate", "from", "to", "cc", "subject", "size"}

var sortKeys = map[string]imapclient.SortKey{
	"sentDate": imapclient.SortKeyDate, "receivedDate": imapclient.SortKeyArrival,
	"from": imapclient.SortKeyFrom, "to": imapclient.SortKeyTo, "cc": imapclient.SortKeyCc,
	"subject": imapclient.SortKeySubject, "size": imapclient.SortKeySize,
}

// criteria renders q as one IMAP SEARCH.
func (q Query) criteria() *imap.SearchCriteria {
	var terms []imap.SearchCriteria
	header := func(key, v string) {
		for _, part := range listing.Match(v).Parts() {
			if part != "" {
				terms = append(terms, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: key, Value: part}}})
			}
		}
	}
	header("From", q.From)
	header("To", q.To)
	header("Cc", q.Cc)
	header("Subject", q.Subject)
	for _, part := range listing.Match(q.Body).Parts() {
		if part != "" {
			terms = append(terms, imap.SearchCriteria{Body: []string{part}})
		}
	}
	if q.ID != "" {
		id := strings.Trim(q.ID, "<>")
		terms = append(terms, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}},
			{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Fuglu-Id", Value: id}}},
		}}})
	}
	c := &imap.SearchCriteria{}
	switch {
	case len(terms) == 0:
	case q.Operator == Or:
		any := terms[len(terms)-1]
		for i := len(terms) - 2; i >= 0; i-- {
			any = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{terms[i], any}}}
		}
		c.And(&any)
	case q.Operator == Not:
		c.Not = terms
	default:
		for i := range terms {
			c.And(&terms[i])
		}
	}
	c.NotFlag = q.Without
	// IMAP compares dates only: a day on each side, and the exact instant
	// checked afterwards (exact).
	if q.ReceivedAfter != nil {
		c.Since = q.ReceivedAfter.UTC().AddDate(0, 0, -1)
	}
	// A bound past the end of 9999 cannot be said (IMAP dates have four
	// digits) and excludes nothing: none is sent, the exact check stays.
	if q.ReceivedBefore != nil {
		if before := q.ReceivedBefore.UTC().AddDate(0, 0, 2); before.Year() <= 9999 {
			c.Before = before
		}
	}
	return c
}

// Page is one page of a folder's messages, and how many match in all.
type Page struct {
	Total    int
	Messages []Summary
}

// Search returns the page p of the messages of folder that q selects, in
// p's order (Sorts; "-sentDate" by default). With the server's SORT only
// the page's messages are fetched; without it (go-imap's own server), the
// sort keys of every match are fetched and sorted here, a cost that grows
// with the number of matches.
func (s *Store) Search(ctx context.Context, user, folder string, q Query, p listing.Page) (Page, error) {
	order, err := listing.ParseSort(p.Sort, "-sentDate", Sorts)
	if err != nil {
		return Page{}, err
	}
	var out Page
	err = s.with(ctx, user, func(c *conn) error {
		if err := c.examine(folder); err != nil {
			return err
		}
		criteria := q.criteria()
		var uids []imap.UID
		if c.caps.Has(imap.CapSort) {
			nums, err := c.c.UIDSort(&imapclient.SortOptions{SearchCriteria: criteria,
				SortCriteria: []imapclient.SortCriterion{{Key: sortKeys[order.Field], Reverse: order.Desc}}}).Wait()
			if err != nil {
				return err
			}
			uids = make([]imap.UID, len(nums))
			for i, n := range nums {
				uids[i] = imap.UID(n)
			}
		} else if uids, err = c.sortHere(criteria, order); err != nil {
			return err
		}
		if uids, err = c.exactDates(criteria, uids, q); err != nil {
			return err
		}
		out.Total = len(uids)
		if p.Offset >= len(uids) {
			return nil
		}
		page := uids[p.Offset:min(len(uids), p.Offset+p.PageSize)]
		out.Messages, err = c.summaries(page)
		return err
	})
	return out, answer(err)
}

// examine opens folder read-only; a missing one is a fault.NotFound.
func (c *conn) examine(folder string) error {
	if _, err := c.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		if isNonExistent(err) {
			return errFolder()
		}
		return err
	}
	return nil
}

func errFolder() error { return fault.NotFoundOf(fault.Folder) }

// sortHere is SORT for a server without it: every match's sort key is
// fetched, and the UIDs sorted as RFC 5256 sorts them (ties by UID, in
// ascending order whatever the direction).
func (c *conn) sortHere(criteria *imap.SearchCriteria, o listing.Order) ([]imap.UID, error) {
	found, err := c.c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return nil, err
	}
	all := found.AllUIDs()
	if len(all) == 0 {
		return nil, nil
	}
	opts := &imap.FetchOptions{UID: true}
	switch o.Field {
	case "receivedDate":
		opts.InternalDate = true
	case "size":
		opts.RFC822Size = true
	case "sentDate":
		opts.Envelope, opts.InternalDate = true, true
	default:
		opts.Envelope = true
	}
	msgs, err := c.c.Fetch(imap.UIDSetNum(all...), opts).Collect()
	if err != nil {
		return nil, err
	}
	key := func(m *imapclient.FetchMessageBuffer) (int64, string) {
		switch o.Field {
		case "receivedDate":
			return m.InternalDate.UnixMilli(), ""
		case "size":
			return m.RFC822Size, ""
		case "sentDate":
			if m.Envelope != nil && !m.Envelope.Date.IsZero() {
				return m.Envelope.Date.UnixMilli(), ""
			}
			return m.InternalDate.UnixMilli(), ""
		}
		if m.Envelope == nil {
			return 0, ""
		}
		switch o.Field {
		case "from":
			return 0, firstMailbox(m.Envelope.From)
		case "to":
			return 0, firstMailbox(m.Envelope.To)
		case "cc":
			return 0, firstMailbox(m.Envelope.Cc)
		}
		return 0, baseSubject(m.Envelope.Subject)
	}
	slices.SortStableFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int {
		an, as := key(a)
		bn, bs := key(b)
		c := cmp.Or(cmp.Compare(an, bn), strings.Compare(as, bs))
		if o.Desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.UID, b.UID))
	})
	uids := make([]imap.UID, len(msgs))
	for i, m := range msgs {
		uids[i] = m.UID
	}
	return uids, nil
}

func firstMailbox(addrs []imap.Address) string {
	if len(addrs) == 0 {
		return ""
	}
	return strings.ToLower(addrs[0].Mailbox)
}

// baseSubject is RFC 5256's base subject, simplified: leading "Re:",
// "Fw:", "Fwd:" and trailing "(fwd)" removed, case folded.
func baseSubject(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for {
		t := strings.TrimSpace(strings.TrimSuffix(s, "(fwd)"))
		for _, p := range []string{"re:", "fwd:", "fw:"} {
			t = strings.TrimSpace(strings.TrimPrefix(t, p))
		}
		if t == s {
			return s
		}
		s = t
	}
}

// exactDates drops, from uids (in order), the messages that the day-wide
// IMAP dates let in but the instants of q exclude: only the messages of
// the boundary days are fetched.
func (c *conn) exactDates(criteria *imap.SearchCriteria, uids []imap.UID, q Query) ([]imap.UID, error) {
	if (q.ReceivedAfter == nil && q.ReceivedBefore == nil) || len(uids) == 0 {
		return uids, nil
	}
	edges := *criteria
	var days []imap.SearchCriteria
	if q.ReceivedAfter != nil {
		d := q.ReceivedAfter.UTC()
		days = append(days, imap.SearchCriteria{Since: d.AddDate(0, 0, -1), Before: d.AddDate(0, 0, 2)})
	}
	if q.ReceivedBefore != nil {
		d := q.ReceivedBefore.UTC()
		days = append(days, imap.SearchCriteria{Since: d.AddDate(0, 0, -1), Before: d.AddDate(0, 0, 2)})
	}
	if len(days) == 2 {
		edges.Or = append(edges.Or, [2]imap.SearchCriteria{days[0], days[1]})
	} else {
		edges.And(&days[0])
	}
	found, err := c.c.UIDSearch(&edges, nil).Wait()
	if err != nil {
		return nil, err
	}
	near := found.AllUIDs()
	if len(near) == 0 {
		return uids, nil
	}
	msgs, err := c.c.Fetch(imap.UIDSetNum(near...), &imap.FetchOptions{UID: true, InternalDate: true}).Collect()
	if err != nil {
		return nil, err
	}
	out := map[imap.UID]bool{}
	for _, m := range msgs {
		t := m.InternalDate
		if q.ReceivedAfter != nil && t.Before(*q.ReceivedAfter) || q.ReceivedBefore != nil && !t.Before(*q.ReceivedBefore) {
			out[m.UID] = true
		}
	}
	return slices.DeleteFunc(uids, func(u imap.UID) bool { return out[u] }), nil
}

// ParseUID reads a message id that is a UID.
func ParseUID(id string) (imap.UID, bool) {
	n, err := strconv.ParseUint(id, 10, 32)
	return imap.UID(n), err == nil && n > 0
}
