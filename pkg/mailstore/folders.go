package mailstore

import (
	"context"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Folder is a folder of a mailbox. Path is its IMAP name (UTF-8; the
// server's hierarchy delimiter between levels), Name its last level.
type Folder struct {
	Path, Name  string
	HasChildren bool
	// Messages and Unseen are set when asked for (stats).
	Messages, Unseen *uint32
}

// Folders lists the folders of user's mailbox directly under parent (the
// top level when parent is ""), with their message counts when stats is
// set: in the LIST itself where the server has LIST-STATUS, by one STATUS
// each otherwise. A parent that does not exist is a fault.NotFound.
func (s *Store) Folders(ctx context.Context, user, parent string, stats bool) ([]Folder, error) {
	var out []Folder
	err := s.with(ctx, user, func(c *conn) error {
		delim, err := c.delimiter()
		if err != nil {
			return err
		}
		pattern := "%"
		if parent != "" {
			found, err := c.c.List("", parent, nil).Collect()
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return fault.NotFoundOf(fault.Folder)
			}
			if delim == 0 {
				return nil // a flat namespace: no folder has children
			}
			pattern = parent + string(delim) + "%"
		}
		opts := &imap.ListOptions{}
		// Child flags are sent only when asked for, by an extended LIST
		// (Dovecot), or always where CHILDREN is all the server has.
		opts.ReturnChildren = c.caps.Has(imap.CapListExtended) || c.caps.Has(imap.CapIMAP4rev2)
		withStatus := stats && c.caps.Has(imap.CapListStatus)
		if withStatus {
			opts.ReturnStatus = &imap.StatusOptions{NumMessages: true, NumUnseen: true}
		}
		list, err := c.c.List("", pattern, opts).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			f := Folder{Path: l.Mailbox, Name: l.Mailbox, HasChildren: true}
			if delim != 0 {
				f.Name = l.Mailbox[strings.LastIndex(l.Mailbox, string(delim))+1:]
			}
			selectable := true
			for _, a := range l.Attrs {
				switch a {
				case imap.MailboxAttrHasNoChildren:
					f.HasChildren = false
				case imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent:
					selectable = false
				}
			}
			if stats && selectable {
				st := l.Status
				if !withStatus || st == nil {
					if st, err = c.c.Status(l.Mailbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait(); err != nil {
						return err
					}
				}
				f.Messages, f.Unseen = st.NumMessages, st.NumUnseen
			}
			out = append(out, f)
		}
		return nil
	})
	return out, answer(err)
}

// delimiter is the server's hierarchy delimiter (0 for a flat namespace),
// asked once per connection.
func (c *conn) delimiter() (rune, error) {
	if c.delim != 0 {
		return c.delim, nil
	}
	list, err := c.c.List("", "", nil).Collect()
	if err != nil {
		return 0, err
	}
	if len(list) > 0 {
		c.delim = list[0].Delim
	}
	return c.delim, nil
}
