package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Remediation (remediate_message) is a job of the queue: for each
// recipient, the message is searched by Message-ID in its mailbox on its
// platform, through the platform's remediation API (pkg/remediate), and
// deleted, or taken into the user's Quarantine of the service's own mail
// store (stored there before it is removed from the mailbox). What was
// done for each mailbox is the task's output (GET /tasks/{taskId}).

// KindRemediate is the job's kind, the command's name.
const KindRemediate = "remediate_message"

// RemediateArgs: the message, its recipients (users), the action.
type RemediateArgs struct {
	MessageID string  `json:"messageId"`
	UserIDs   []int64 `json:"userIds"`
	Action    string  `json:"action"`
}

func (RemediateArgs) Kind() string { return KindRemediate }

// RemediationOutcome is what was done in one mailbox.
type RemediationOutcome struct {
	Mailbox string `json:"mailbox"`
	Found   int    `json:"found"`
	Removed int    `json:"removed"`
	Error   string `json:"error,omitempty"`
}

type remediateWorker struct {
	river.WorkerDefaults[RemediateArgs]
	s *Server
}

// remediationTarget is the remediation API of a platform, from its
// settings; ok false when it has none usable.
func (s *Server) remediationTarget(p db.Platform) (remediate.Target, bool) {
	raw, ok := s.openSettings(p.APIData)
	if p.APIType == nil || !ok {
		return remediate.Target{}, false
	}
	var api gen.RemediationApiSettings
	if json.Unmarshal(raw, &api) != nil {
		return remediate.Target{}, false
	}
	t := apiTarget(gen.ApiType(*p.APIType), api)
	switch gen.ApiType(t.Type) {
	case gen.ApiTypeIMAP, gen.ApiTypeEXCHANGE:
		return t, t.Host != "" && t.Login != ""
	case gen.ApiTypeO365:
		return t, t.ClientID != "" && t.TenantID != "" && t.ClientSecret != ""
	}
	return t, false
}

// apiTarget is the remediation API of the settings api of type typ: the
// same for a remediation and for its relay check.
func apiTarget(typ gen.ApiType, api gen.RemediationApiSettings) remediate.Target {
	t := remediate.Target{Type: string(typ), Host: deref(api.Host, ""), TLS: deref(api.UseSsl, false),
		Login: deref(api.Login, ""), Password: deref(api.Password, ""),
		ClientID: deref(api.ClientId, ""), TenantID: deref(api.TenantId, ""), ClientSecret: deref(api.ClientSecret, "")}
	if api.Port != nil {
		t.Port = int(*api.Port)
	}
	return t
}

func (w *remediateWorker) Work(ctx context.Context, j *river.Job[RemediateArgs]) error {
	s := w.s
	var outcomes []RemediationOutcome
	var failed []error
	for _, id := range j.Args.UserIDs {
		u, err := s.store.FindUser(ctx, id, "")
		if errors.Is(err, db.ErrNotFound) {
			continue // gone since: nothing of it to remediate
		}
		if err != nil {
			return err
		}
		o := RemediationOutcome{Mailbox: u.Email}
		d, err := s.store.DeliveryOf(ctx, u)
		if err != nil {
			return err
		}
		t, ok := s.remediationTarget(d.Platform)
		if !ok {
			o.Error = "its platform has no remediation API"
			outcomes = append(outcomes, o)
			continue
		}
		keep := func(f remediate.Found) error {
			if s.mail == nil {
				return errors.New("no mail store is configured: the message cannot be quarantined")
			}
			_, err := s.mail.Append(ctx, u.Email, "Quarantine", f.Raw, nil)
			return err
		}
		res, err := s.remediator.RemediateKeeping(ctx, t, u.Email, j.Args.MessageID, remediate.Action(j.Args.Action), keep)
		o.Found, o.Removed = len(res.Found), res.Removed()
		if err != nil {
			o.Error = err.Error()
			failed = append(failed, fmt.Errorf("%s: %w", u.Email, err))
		}
		outcomes = append(outcomes, o)
	}
	if err := river.RecordOutput(ctx, map[string]any{"mailboxes": outcomes}); err != nil {
		return err
	}
	// Retried: the mailboxes done find nothing the second time.
	return errors.Join(failed...)
}

// A platform's settings (apiData, authData) hold credentials: they are
// stored sealed (CLEANMAIL_SECRET_KEY, as the DKIM keys), never in clear.
const sealedPrefix = "sealed:"

var settingsContext = []byte("cleanmail platform settings v1")

// errNoSecretKeySettings is the 422 of a server that cannot encrypt them.
var errNoSecretKeySettings = fault.Fail(fault.Unprocessable, "",
	"The server's secret key is not configured (CLEANMAIL_SECRET_KEY): a platform's credentials (apiData, authData) cannot be stored, since they are stored only encrypted.")

// sealSettings seals the JSON of a platform's settings for the database.
func (s *Server) sealSettings(raw []byte) (*string, error) {
	if s.sealer == nil {
		return nil, errNoSecretKeySettings
	}
	v := sealedPrefix + base64.StdEncoding.EncodeToString(s.sealer.Seal(raw, settingsContext))
	return &v, nil
}

// openSettings reads stored settings: sealed ones opened, a value of an
// earlier version (JSON in clear) as it is, until the platform is next
// saved; ok false when there are none or they cannot be opened (the
// secret key changed), which the callers treat as no settings.
func (s *Server) openSettings(stored *string) ([]byte, bool) {
	if stored == nil || *stored == "" {
		return nil, false
	}
	v, sealed := strings.CutPrefix(*stored, sealedPrefix)
	if !sealed {
		return []byte(v), true
	}
	if s.sealer == nil {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, false
	}
	raw, err := s.sealer.Open(b, settingsContext)
	return raw, err == nil
}
