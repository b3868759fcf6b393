package mailstore

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Append stores raw (a whole message, CRLF line endings) in folder of
// user with flags, as received now (IMAP APPEND), and returns its UID when
// the server tells it (UIDPLUS; 0 otherwise). A folder that does not exist
// is a fault.NotFound (Folder): APPEND never creates one.
func (s *Store) Append(ctx context.Context, user, folder string, raw []byte, flags []imap.Flag) (imap.UID, error) {
	var uid imap.UID
	err := s.with(ctx, user, func(c *conn) error {
		cmd := c.c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: time.Now()})
		if _, err := cmd.Write(raw); err != nil {
			_ = cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			if isNonExistent(err) || isTryCreate(err) {
				return fault.NotFoundOf(fault.Folder)
			}
			return err
		}
		uid = data.UID
		return nil
	})
	return uid, answer(err)
}

// Delete deletes the message uid of folder of user: flagged \Deleted, then
// expunged, by UID EXPUNGE where the server has UIDPLUS (only that
// message), by EXPUNGE otherwise (which also expunges whatever else was
// flagged \Deleted there, as any IMAP client would). A missing folder or
// message is a fault.NotFound.
func (s *Store) Delete(ctx context.Context, user, folder string, uid imap.UID) error {
	err := s.with(ctx, user, func(c *conn) error {
		if _, err := c.c.Select(folder, nil).Wait(); err != nil {
			if isNonExistent(err) {
				return fault.NotFoundOf(fault.Folder)
			}
			return err
		}
		set := imap.UIDSetNum(uid)
		flagged, err := c.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect()
		if err != nil {
			return err
		}
		if len(flagged) == 0 {
			return fault.NotFoundOf(fault.MailMessage)
		}
		if c.caps.Has(imap.CapUIDPlus) || c.caps.Has(imap.CapIMAP4rev2) {
			return c.c.UIDExpunge(set).Close()
		}
		return c.c.Expunge().Close()
	})
	return answer(err)
}

// isTryCreate tells the server's "no such folder, create it first".
func isTryCreate(err error) bool {
	var e *imap.Error
	return errors.As(err, &e) && e.Code == imap.ResponseCodeTryCreate
}
