package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/gen"
	"github.com/cleanmail/cleanmail/pkg/fault"
	"github.com/cleanmail/cleanmail/pkg/jobs"
	"github.com/cleanmail/cleanmail/pkg/listing"
	"github.com/cleanmail/cleanmail/pkg/notify"
	"github.com/cleanmail/cleanmail/pkg/remediate"
)

// Tasks are jobs of the queue (pkg/jobs) that POST /tasks enqueues, and
// GET /tasks/{id} reads. Each command has its rule (taskRules, rules.go);
// the job's metadata keeps who launched it, who alone may read it besides
// a sysadmin.

const (
	defaultResetValidity = 24      // hours
	maxLinkValidity      = 24 * 31 // hours
	taskParamMaxLen      = 254     // a recipient's address
)

// taskMeta is the metadata of a job launched through the API.
type taskMeta struct {
	By string `json:"by"` // "admin:<key>" or "user:<key>"
}

func launcher(p *Principal) string {
	switch {
	case p == nil:
		return ""
	case p.Admin != nil:
		return fmt.Sprintf("admin:%d", p.Admin.ID)
	case p.User != nil:
		return fmt.Sprintf("user:%d", p.User.ID)
	}
	return ""
}

// taskParams reads the params of a command: only the names it knows, each
// of its type.
type taskParams map[string]any

func (p taskParams) only(names ...string) error {
	for k := range p {
		known := false
		for _, n := range names {
			known = known || k == n
		}
		if !known {
			return badField("params."+k, "is not a parameter of this command (it takes %s)", strings.Join(names, ", "))
		}
	}
	return nil
}

func (p taskParams) recipient() (string, error) {
	v, ok := p["recipient"]
	if !ok {
		return "", badField("params.recipient", "is required: the e-mail address of the user")
	}
	s, ok := v.(string)
	if !ok || len(s) > taskParamMaxLen {
		return "", badField("params.recipient", "must be an e-mail address")
	}
	addr, _, err := mailbox("params.recipient", s)
	return addr, err
}

func (p taskParams) hours(def int) (int, error) {
	v, ok := p["validity"]
	if !ok {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 1 || f > maxLinkValidity {
		return 0, badField("params.validity", "must be a whole number of hours between 1 and %d", maxLinkValidity)
	}
	return int(f), nil
}

func (p taskParams) since() (int64, error) {
	v, ok := p["since"]
	if !ok {
		return 0, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 0 || f > float64(time.Now().Add(time.Hour).UnixMilli()) {
		return 0, badField("params.since", "must be a date in epoch milliseconds, not in the future")
	}
	return int64(f), nil
}

// ExecuteTask checks a command, its parameters and its rule, and enqueues
// its job: 202 and the task's Location.
func (s *Server) ExecuteTask(ctx context.Context, req gen.ExecuteTaskRequestObject) (gen.ExecuteTaskResponseObject, error) {
	params := taskParams(req.Body.Params)
	var (
		args  river.JobArgs
		err   error
		hours int
		since int64
	)
	switch req.Body.Command {
	case gen.TaskCommandSendWelcomeMail:
		err = params.only("recipient")
	case gen.TaskCommandSendTokenMail:
		if err = params.only("recipient", "validity"); err == nil {
			hours, err = params.hours(defaultTokenValidity)
		}
	case gen.TaskCommandSendPasswordResetMail:
		if err = params.only("recipient", "validity"); err == nil {
			hours, err = params.hours(defaultResetValidity)
		}
	case gen.TaskCommandSendSpamfightSpamMail, gen.TaskCommandSendSpamfightCleanMail:
		if err = params.only("recipient", "since"); err == nil {
			since, err = params.since()
		}
	case gen.TaskCommandRemediateMessage:
		return s.remediateTask(ctx, params)
	default:
		return nil, fault.New(fault.NotImplemented, "command", "The command %s is not delivered yet.", req.Body.Command)
	}
	if err != nil {
		return nil, err
	}
	recipient, err := params.recipient()
	if err != nil {
		return nil, err
	}
	u, err := s.taskRecipient(ctx, req.Body.Command, recipient)
	if err != nil {
		return nil, err
	}
	switch req.Body.Command {
	case gen.TaskCommandSendWelcomeMail:
		args = notify.WelcomeArgs{UserID: u.ID}
	case gen.TaskCommandSendTokenMail:
		args = notify.TokenArgs{UserID: u.ID, Hours: hours}
	case gen.TaskCommandSendPasswordResetMail:
		args = notify.ResetArgs{UserID: u.ID, Hours: hours}
	case gen.TaskCommandSendSpamfightSpamMail:
		args = notify.SpamDigestArgs{Digest: notify.Digest{UserID: u.ID, Since: since}}
	case gen.TaskCommandSendSpamfightCleanMail:
		args = notify.CleanDigestArgs{Digest: notify.Digest{UserID: u.ID, Since: since}}
	}
	id, err := s.enqueue(ctx, args)
	if err != nil {
		return nil, err
	}
	return gen.ExecuteTask202Response{Headers: gen.ExecuteTask202ResponseHeaders{Location: s.location("/tasks/%s", s.id(id))}}, nil
}

// taskRecipient is the user a mail command is for, under the command's
// rule: enabled, in a domain whose mails can be written (APP_URL). A user
// unknown or out of reach is the same 422: the request names no user the
// caller may mail.
func (s *Server) taskRecipient(ctx context.Context, cmd gen.TaskCommand, email string) (*db.User, error) {
	var key int64
	me := principalFrom(ctx)
	switch t, err := s.on(ctx, taskRules[cmd], email); {
	case err == nil:
		key = t.user.ID
	case selfServe[cmd] && me.User != nil && strings.EqualFold(me.User.Email, email) && isNotFoundOrForbidden(err):
		key = me.User.ID // its own token (as GET /token), its own digest
	case fault.KindOf(err) == fault.NotFound:
		return nil, unprocessableField("params.recipient", "No user %s within your reach.", email)
	default:
		return nil, err
	}
	u, err := s.store.FindUser(ctx, key, "")
	if err != nil {
		return nil, err
	}
	if u.Status != db.UserEnabled {
		return nil, unprocessableField("params.recipient", "The user %s is %s: it gets no mail from the service.", u.Email, strings.ToLower(u.Status))
	}
	if _, err := notify.DomainSettings(ctx, s.store, u.DomainID); err != nil {
		return nil, err
	}
	if cmd == gen.TaskCommandSendSpamfightSpamMail || cmd == gen.TaskCommandSendSpamfightCleanMail {
		v, err := s.store.GetUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case cmd == gen.TaskCommandSendSpamfightSpamMail && (v.Policy == nil || !v.Policy.Quarantine):
			return nil, unprocessableField("params.recipient", "The user %s has no quarantine service (its policy): it has no quarantine digest.", u.Email)
		case cmd == gen.TaskCommandSendSpamfightCleanMail && (v.Policy == nil || !v.Policy.Retention):
			return nil, unprocessableField("params.recipient", "The user %s has no retention service (its policy): its delivered mail is not kept, so there is no digest of it.", u.Email)
		case cmd == gen.TaskCommandSendSpamfightSpamMail && s.publicURL == "":
			return nil, unprocessableField("command", "The digest's release links need the server's public URL (CLEANMAIL_PUBLIC_URL), which is not configured.")
		}
	}
	return u, nil
}

// selfServe are the commands a user may launch for itself, whatever its
// domain's access rules.
var selfServe = map[gen.TaskCommand]bool{
	gen.TaskCommandSendTokenMail:          true,
	gen.TaskCommandSendSpamfightSpamMail:  true,
	gen.TaskCommandSendSpamfightCleanMail: true,
}

func unprocessableField(field, format string, args ...any) *fault.Error {
	return fault.Unprocessablef(field, format, args...)
}

// enqueue inserts a job launched by the caller, in the transaction ctx
// carries if any.
func (s *Server) enqueue(ctx context.Context, args river.JobArgs) (int64, error) {
	if s.jobs == nil {
		return 0, fault.PeerFailure("job queue", errors.New("the server runs without a job queue"))
	}
	meta, err := json.Marshal(taskMeta{By: launcher(principalFrom(ctx))})
	if err != nil {
		return 0, err
	}
	return s.jobs.Insert(ctx, args, &river.InsertOpts{Metadata: meta})
}

// GetTask is a task's state, for a sysadmin or its launcher.
func (s *Server) GetTask(ctx context.Context, req gen.GetTaskRequestObject) (gen.GetTaskResponseObject, error) {
	key, ok := s.ids.Decode(req.TaskId)
	if !ok || s.jobs == nil {
		return nil, fault.NotFoundOf(fault.Task)
	}
	j, err := s.jobs.Job(ctx, key)
	if errors.Is(err, jobs.ErrNoJob) {
		return nil, fault.NotFoundOf(fault.Task)
	}
	if err != nil {
		return nil, err
	}
	var meta taskMeta
	_ = json.Unmarshal(j.Metadata, &meta)
	me := principalFrom(ctx)
	if !me.SysAdmin() && (meta.By == "" || meta.By != launcher(me)) {
		// Another's task is as unknown as a missing one.
		return nil, fault.NotFoundOf(fault.Task)
	}
	return gen.GetTask200JSONResponse(s.taskOut(j)), nil
}

func (s *Server) taskOut(j *rivertype.JobRow) gen.TaskState {
	out := gen.TaskState{
		Id: s.id(j.ID), Command: gen.TaskCommand(j.Kind), State: taskState(j),
		Attempts: int32(j.Attempt), MaxAttempts: int32(j.MaxAttempts),
		CreatedAt: j.CreatedAt.UnixMilli(), FinalizedAt: nullOf[int64](),
		Errors: make([]gen.TaskError, 0, len(j.Errors)), Output: nullOf[gen.TaskOutput](),
	}
	if j.FinalizedAt != nil {
		out.FinalizedAt.Set(j.FinalizedAt.UnixMilli())
	}
	for _, e := range j.Errors {
		msg := e.Error
		if len(msg) > 4096 {
			msg = msg[:4096]
		}
		out.Errors = append(out.Errors, gen.TaskError{Attempt: int32(e.Attempt), At: e.At.UnixMilli(), Error: msg})
	}
	if o := j.Output(); len(o) > 0 {
		var v gen.TaskOutput
		if json.Unmarshal(o, &v) == nil {
			out.Output.Set(v)
		}
	}
	if len(out.Errors) > 100 {
		out.Errors = out.Errors[len(out.Errors)-100:]
	}
	return out
}

// taskState says River's states in the API's words.
func taskState(j *rivertype.JobRow) gen.TaskStateState {
	switch j.State {
	case rivertype.JobStateRunning:
		return gen.TaskStateRunning
	case rivertype.JobStateRetryable:
		return gen.TaskStateRetrying
	case rivertype.JobStateCompleted:
		return gen.TaskStateDone
	case rivertype.JobStateCancelled:
		return gen.TaskStateCancelled
	case rivertype.JobStateDiscarded:
		return gen.TaskStateFailed
	}
	return gen.TaskStatePending // available, scheduled, pending
}

// SetPasswordWithToken sets a user's password with a mail's one-time link.
func (s *Server) SetPasswordWithToken(ctx context.Context, req gen.SetPasswordWithTokenRequestObject) (gen.SetPasswordWithTokenResponseObject, error) {
	hash, err := hashPassword("password", req.Body.Password)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.UsePasswordToken(ctx, req.Body.Token, *hash); err != nil {
		return nil, err
	}
	return gen.SetPasswordWithToken204Response{}, nil
}

// IssueTempToken is the temporary token of u (GET /token's), with the
// permissions end users of its domain have, valid for validity: for the
// token mail (pkg/notify).
func (s *Server) IssueTempToken(ctx context.Context, u *db.User, validity time.Duration) (string, time.Time, error) {
	perms, err := s.store.DomainUserPermissions(ctx, u.DomainID, defaultEndUserPermissions)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.signTempToken(u, perms, validity)
}

// maxRemediationRecipients bounds the mailboxes of one remediation.
const maxRemediationRecipients = 500

// remediateTask checks a remediate_message task and enqueues it: every
// recipient a user within the caller's FILTER_EDIT reach whose platform
// has a remediation API.
func (s *Server) remediateTask(ctx context.Context, params taskParams) (gen.ExecuteTaskResponseObject, error) {
	if err := params.only("messageId", "recipients", "action"); err != nil {
		return nil, err
	}
	id, ok := params["messageId"].(string)
	if !ok || strings.TrimSpace(strings.Trim(strings.TrimSpace(id), "<>")) == "" || len(id) > 998 || strings.ContainsAny(id, "\r\n\x00") {
		return nil, badField("params.messageId", "is required: the Message-ID of the message, with or without its angle brackets")
	}
	action, _ := params["action"].(string)
	action = strings.ToUpper(action)
	if action != string(remediate.Delete) && action != string(remediate.Quarantine) {
		return nil, badField("params.action", "must be DELETE or QUARANTINE")
	}
	var users []int64
	seen := map[int64]bool{}
	raw, named := params["recipients"]
	if !named {
		// Every mailbox within the caller's FILTER_EDIT reach (an end
		// user: its own), when they are few enough.
		ids, err := s.mailboxesToRemediate(ctx)
		if err != nil {
			return nil, err
		}
		jid, err := s.enqueue(ctx, RemediateArgs{MessageID: id, UserIDs: ids, Action: action})
		if err != nil {
			return nil, err
		}
		return gen.ExecuteTask202Response{Headers: gen.ExecuteTask202ResponseHeaders{Location: s.location("/tasks/%s", s.id(jid))}}, nil
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 || len(list) > maxRemediationRecipients {
		return nil, badField("params.recipients", "must list the e-mail addresses of the mailboxes to search (1 to %d), or be left out (every mailbox within your reach)", maxRemediationRecipients)
	}
	for i, v := range list {
		field := fmt.Sprintf("params.recipients.%d", i)
		addr, ok := v.(string)
		if !ok || len(addr) > taskParamMaxLen {
			return nil, badField(field, "must be an e-mail address")
		}
		addr, _, err := mailbox(field, addr)
		if err != nil {
			return nil, err
		}
		t, err := s.on(ctx, ruleRemediate, addr)
		if fault.KindOf(err) == fault.NotFound {
			return nil, unprocessableField(field, "No user %s within your reach.", addr)
		}
		if err != nil {
			return nil, err
		}
		d, err := s.store.DeliveryOf(ctx, t.user)
		if err != nil {
			return nil, err
		}
		if _, ok := s.remediationTarget(d.Platform); !ok {
			return nil, unprocessableField(field, "The platform of %s has no remediation API (apiType and apiData): its mailboxes cannot be reached.", addr)
		}
		if !seen[t.user.ID] {
			seen[t.user.ID] = true
			users = append(users, t.user.ID)
		}
	}
	jid, err := s.enqueue(ctx, RemediateArgs{MessageID: id, UserIDs: users, Action: action})
	if err != nil {
		return nil, err
	}
	return gen.ExecuteTask202Response{Headers: gen.ExecuteTask202ResponseHeaders{Location: s.location("/tasks/%s", s.id(jid))}}, nil
}

// mailboxesToRemediate are the mailboxes a remediation without recipients
// searches: the enabled users of the domains where the caller holds
// FILTER_EDIT (a sysadmin: every domain; an end user: itself) whose
// platform has a remediation API, at most maxRemediationRecipients.
func (s *Server) mailboxesToRemediate(ctx context.Context) ([]int64, error) {
	p := principalFrom(ctx)
	if p.User != nil {
		d, err := s.store.DeliveryOf(ctx, p.User)
		if err != nil {
			return nil, err
		}
		if _, ok := s.remediationTarget(d.Platform); !ok {
			return nil, unprocessableField("params.recipients", "The platform of %s has no remediation API (apiType and apiData): its mailbox cannot be reached.", p.User.Email)
		}
		return []int64{p.User.ID}, nil
	}
	users, total, _, err := s.store.ListUsers(ctx, db.UserFilter{Reach: readReach(p, PermFilterEdit)}, listing.Page{PageSize: maxRemediationRecipients})
	if err != nil {
		return nil, err
	}
	if total > maxRemediationRecipients {
		return nil, unprocessableField("params.recipients", "%d mailboxes are within your reach, more than a remediation searches (%d): name the recipients.", total, maxRemediationRecipients)
	}
	var ids []int64
	for i := range users {
		u := &users[i]
		if u.Status != db.UserEnabled {
			continue
		}
		d, err := s.store.DeliveryOf(ctx, &u.User)
		if fault.KindOf(err) == fault.Unprocessable {
			continue // a domain without a platform
		}
		if err != nil {
			return nil, err
		}
		if _, ok := s.remediationTarget(d.Platform); ok {
			ids = append(ids, u.ID)
		}
	}
	if len(ids) == 0 {
		return nil, unprocessableField("params.recipients", "No mailbox within your reach is on a platform with a remediation API.")
	}
	return ids, nil
}
