package mailstore

import (
	"context"

	"github.com/emersion/go-imap/v2"
)

// Released is the keyword that marks a message already released.
const Released imap.Flag = "$Released"

// AddFlag sets flag on the message uid of folder (opened read-write).
func (s *Store) AddFlag(ctx context.Context, user, folder string, uid imap.UID, flag imap.Flag) error {
	err := s.with(ctx, user, func(c *conn) error {
		if _, err := c.c.Select(folder, nil).Wait(); err != nil {
			if isNonExistent(err) {
				return errFolder()
			}
			return err
		}
		return c.c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}, nil).Close()
	})
	return answer(err)
}
