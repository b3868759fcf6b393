package mailstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/mailstore"
	"github.com/cleanmail/cleanmail/pkg/peertest"
)

// BenchmarkDovecotPage measures a page of 40 messages, newest first, of a
// Dovecot folder of 1,000 and of 100,000 messages: through the Store
// (Search: SELECT, UID SORT, UID FETCH of the page), and, as the floor in
// the same run, the same commands sent by go-imap's client on one
// logged-in connection (Dovecot's own SORT + FETCH). Filling 100,000
// messages takes about a minute (Dovecot's indexing).
func BenchmarkDovecotPage(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		d := peertest.StartDovecot(b)
		d.Fill(b, user, "Quarantine", n, func(i int) []byte {
			return msg(fmt.Sprintf("s%d@sender.example", i%97), user, fmt.Sprintf("message %d", i), fmt.Sprintf("m%d@x", i), "body of the message")
		})
		st, err := mailstore.New(mailstore.Options{URL: "imap://" + d.IMAPAddr, MasterUser: d.MasterUser, MasterPassword: d.MasterPassword, Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(fmt.Sprintf("store/%d", n), func(b *testing.B) {
			for b.Loop() {
				p, err := st.Search(ctx, user, "Quarantine", mailstore.Query{}, listing.Page{PageSize: 40, Sort: "-sentDate"})
				if err != nil || len(p.Messages) != 40 || p.Total != n {
					b.Fatalf("page: %d messages of %d, %v", len(p.Messages), p.Total, err)
				}
			}
		})
		b.Run(fmt.Sprintf("dovecot/%d", n), func(b *testing.B) {
			c, err := imapclient.DialInsecure(d.IMAPAddr, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Login(user+d.Separator+d.MasterUser, d.MasterPassword).Wait(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.Select("Quarantine", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
					b.Fatal(err)
				}
				nums, err := c.UIDSort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{},
					SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}}}).Wait()
				if err != nil || len(nums) != n {
					b.Fatalf("sort: %d, %v", len(nums), err)
				}
				uids := make([]imap.UID, 40)
				for i := range uids {
					uids[i] = imap.UID(nums[i])
				}
				msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, Flags: true, Envelope: true, InternalDate: true,
					RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
					BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID", "X-Fuglu-Id", "Importance", "X-Priority", "Priority"}, Peek: true}}}).Collect()
				if err != nil || len(msgs) != 40 {
					b.Fatalf("fetch: %d, %v", len(msgs), err)
				}
			}
		})
		st.Close()
	}
}
