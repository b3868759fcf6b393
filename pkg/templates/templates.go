// Package templates implements the notification mails the server sends
// (welcome, sign-in link, password reset, the quarantine and delivered-mail
// digests): a subject, an HTML part and a text part per kind and language,
// from templates embedded in the binary, for message.Draft's Subject, HTML
// and Text.
//
// The templates live in mail/: layout.html and layout.txt are the frame of
// every mail; mail/<language>/ holds common.tmpl (the sentences the kinds
// share, parsed by both engines, so plain text only), and per kind
// <kind>.html (html/template: "content", "action", "after") and <kind>.txt
// (text/template: "subject", "content"). A language is offered for a kind
// when its directory has common.tmpl and both files of the kind; EN has
// every kind, and is what a kind falls back to in any other language.
//
// What comes from the data is untrusted: every string is made one line
// (control characters, line and paragraph separators, bidirectional
// overrides become spaces), the HTML part is escaped by html/template, and
// a link must be an absolute http or https URL.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is a kind of notification mail.
type Kind string

// The kinds of mail. Data.Link is each one's action: the link to set the
// password, to sign in, to reset the password, and for the digests the
// quarantine (or the messages) in the application.
const (
	// Welcome describes the service to a new user and gives the link to
	// set their password.
	Welcome Kind = "welcome"
	// Token gives a link that signs the user in to the application.
	Token Kind = "token"
	// PasswordReset gives a link to reset the password, usable once.
	PasswordReset Kind = "password_reset"
	// DigestSpam lists the messages held in quarantine since Data.Since,
	// each with its release link.
	DigestSpam Kind = "digest_spam"
	// DigestClean lists the messages delivered since Data.Since.
	DigestClean Kind = "digest_clean"
)

// kinds are every Kind, in the order of their declaration.
var kinds = []Kind{Welcome, Token, PasswordReset, DigestSpam, DigestClean}

// fallback is the language a kind falls back to; it has every kind.
const fallback = "EN"

// DefaultService is the service's name shown when Data.Service is empty.
const DefaultService = "Cleanmail"

// maxField bounds, in characters, a sender or a subject shown in a
// digest: a message's subject can be any length, the table cannot.
const maxField = 200

// Data is what a mail says. Which fields a kind needs is said per field;
// a field a kind does not use is ignored.
type Data struct {
	// Service is the service's name shown; DefaultService when empty.
	Service string
	// Recipient is the user's e-mail address. Required.
	Recipient string
	// Name is the user's display name; the greeting has none when empty.
	Name string
	// Link is the action: an absolute http or https URL. Required. For
	// Welcome, Token and PasswordReset the link the mail is for; for the
	// digests the quarantine (or the messages) in the application.
	Link string
	// Expires is when Link stops working: Welcome, Token and
	// PasswordReset, required and in the future. The mail says it, and
	// for how long from now ("7 days", "12 hours", "30 minutes").
	Expires time.Time
	// Location is the user's time zone, of every date shown; UTC when nil.
	Location *time.Location
	// Since is the start of a digest's period. Required for the digests.
	Since time.Time
	// Messages are a digest's messages, shown in this order.
	Messages []Item
}

// Item is a message in a digest.
type Item struct {
	// From is the sender as the message gives it ("Name <a@b>" or an
	// address), Subject its subject; each cut to 200 characters.
	From, Subject string
	// Date is the message's date; none is shown when zero.
	Date time.Time
	// ReleaseLink releases the message in one click: an absolute http or
	// https URL. Required in DigestSpam; ignored in DigestClean.
	ReleaseLink string
}

// Mail is a rendered mail.
type Mail struct {
	// Subject is one line, without CR or LF.
	Subject string
	// HTML is a complete document, styled inline; Text stands on its own,
	// every link written out.
	HTML, Text string
	// Language is the language used ("EN", "FR", …): the one asked for,
	// or EN when it has no template of the kind.
	Language string
}

// ErrLink is wrapped by Render's error for a link that is not an absolute
// http or https URL (a javascript: link, a relative one, one with a
// space or a control character).
var ErrLink = errors.New("not an absolute http or https URL")

//go:embed mail
var files embed.FS

// pair is the parsed templates of a kind in a language.
type pair struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// parsed holds every kind of every language that has it: key language,
// then kind. Parsed once, from files that cannot change.
var parsed = parseAll()

// Render renders the mail k in language (a code such as "EN" or "fr", in
// any case; a region, as in "fr-CH", is ignored) or, when that language
// has no template of k, in EN. An unknown kind, missing required data or
// a link that is not http(s) (ErrLink) is an error.
func Render(k Kind, language string, d Data) (Mail, error) {
	if !slices.Contains(kinds, k) {
		return Mail{}, fmt.Errorf("templates: unknown kind %q", k)
	}
	lang := normalize(language)
	p, ok := parsed[lang][k]
	if !ok {
		lang = fallback
		p = parsed[lang][k]
	}
	v, err := newView(k, lang, d, time.Now())
	if err != nil {
		return Mail{}, err
	}
	var subject, text, html bytes.Buffer
	if err := p.text.ExecuteTemplate(&subject, "subject", v); err != nil {
		return Mail{}, fmt.Errorf("templates: %s %s subject: %w", lang, k, err)
	}
	v.Subject = oneLine(subject.String())
	if err := p.text.ExecuteTemplate(&text, "layout.txt", v); err != nil {
		return Mail{}, fmt.Errorf("templates: %s %s text: %w", lang, k, err)
	}
	if err := p.html.ExecuteTemplate(&html, "layout.html", v); err != nil {
		return Mail{}, fmt.Errorf("templates: %s %s html: %w", lang, k, err)
	}
	return Mail{Subject: v.Subject, HTML: html.String(), Text: tidy(text.String()), Language: lang}, nil
}

// Languages lists the language codes ("DE", "EN", …) that have every
// kind, sorted.
func Languages() []string {
	var out []string
	for lang, ks := range parsed {
		if len(ks) == len(kinds) {
			out = append(out, lang)
		}
	}
	slices.Sort(out)
	return out
}

// normalize makes a language code the key of parsed: upper case, its
// region cut.
func normalize(language string) string {
	lang, _, _ := strings.Cut(strings.TrimSpace(language), "-")
	lang, _, _ = strings.Cut(lang, "_")
	return strings.ToUpper(lang)
}

// view is what the templates see: Data checked, made one line and
// formatted in the language.
type view struct {
	Lang      string // the html lang attribute: "en"
	Subject   string // the rendered subject, for the HTML title
	Service   string
	Recipient string
	Name      string
	Link      string
	Validity  string // how long Link stays valid: "7 days"
	Expires   string // when it stops: "9 January 2026 15:04"
	Since     string
	Zone      string // the time zone's name: "Europe/Paris", "UTC"
	Release   bool   // the digest has release links
	Count     int
	Messages  []itemView
}

type itemView struct {
	N                                int // 1, 2, …
	From, Subject, Date, ReleaseLink string
}

func newView(k Kind, lang string, d Data, now time.Time) (*view, error) {
	l := locales[lang]
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	v := &view{
		Lang:      strings.ToLower(lang),
		Service:   oneLine(d.Service),
		Recipient: oneLine(d.Recipient),
		Name:      oneLine(d.Name),
		Zone:      zoneName(loc, now),
	}
	if v.Service == "" {
		v.Service = DefaultService
	}
	if v.Recipient == "" {
		return nil, fmt.Errorf("templates: %s: Recipient is required", k)
	}
	link, err := checkLink("Link", d.Link)
	if err != nil {
		return nil, err
	}
	v.Link = link
	switch k {
	case Welcome, Token, PasswordReset:
		if d.Expires.IsZero() {
			return nil, fmt.Errorf("templates: %s: Expires is required", k)
		}
		left := d.Expires.Sub(now)
		if left <= 0 {
			return nil, fmt.Errorf("templates: %s: Expires (%s) is past", k, d.Expires.Format(time.RFC3339))
		}
		v.Validity = l.duration(left)
		v.Expires = l.date(d.Expires.In(loc))
	case DigestSpam, DigestClean:
		if d.Since.IsZero() {
			return nil, fmt.Errorf("templates: %s: Since is required", k)
		}
		v.Since = l.date(d.Since.In(loc))
		v.Release = k == DigestSpam
		v.Count = len(d.Messages)
		v.Messages = make([]itemView, len(d.Messages))
		for i, m := range d.Messages {
			iv := itemView{N: i + 1, From: cut(oneLine(m.From)), Subject: cut(oneLine(m.Subject))}
			if !m.Date.IsZero() {
				iv.Date = l.date(m.Date.In(loc))
			}
			if v.Release {
				if iv.ReleaseLink, err = checkLink(fmt.Sprintf("Messages[%d].ReleaseLink", i), m.ReleaseLink); err != nil {
					return nil, err
				}
			}
			v.Messages[i] = iv
		}
	}
	return v, nil
}

// checkLink returns s when it is an absolute http or https URL with a
// host, and nothing a mail client could read otherwise (no space, no
// control character).
func checkLink(field, s string) (string, error) {
	bad := func() (string, error) {
		return "", fmt.Errorf("templates: %s %q: %w", field, cut(s), ErrLink)
	}
	if s == "" {
		return "", fmt.Errorf("templates: %s is required", field)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError }) {
		return bad()
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Hostname() == "" {
		return bad()
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return bad()
	}
	return s, nil
}

// oneLine makes s one line: a run of white space or of characters that
// could break a line or reorder the text around them (C0 and C1 controls,
// U+2028, U+2029, the bidirectional embeddings, overrides and isolates)
// becomes one space; the ends are trimmed. Invalid UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) || (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// cut shortens s to maxField characters, an ellipsis marking the cut.
func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxField {
		return s
	}
	r := []rune(s)
	return string(r[:maxField-1]) + "…"
}

// tidy makes the text part's layout regular whatever the templates'
// white space: lines trimmed at their end, no more than one blank line in
// a row, none at the ends; one final newline.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			if !blank {
				out = append(out, l)
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}

// zoneName names loc for the reader: its IANA name, or for the process's
// own zone its abbreviation now.
func zoneName(loc *time.Location, now time.Time) string {
	if name := loc.String(); name != "" && name != "Local" {
		return name
	}
	abbrev, _ := now.In(loc).Zone()
	return abbrev
}

// parseAll parses every language's kinds. The templates are part of the
// binary: one that does not parse, or an EN without every kind, is a bug
// the package's tests catch, so it panics.
func parseAll() map[string]map[Kind]pair {
	out := map[string]map[Kind]pair{}
	dirs, err := fs.ReadDir(files, "mail")
	if err != nil {
		panic(err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		lang := dir.Name()
		if _, ok := locales[strings.ToUpper(lang)]; !ok || lang != strings.ToLower(lang) {
			panic(fmt.Sprintf("templates: mail/%s has no locale (locales, locale.go) or is not lower case", lang))
		}
		for _, k := range kinds {
			common, html, text := "mail/"+lang+"/common.tmpl", "mail/"+lang+"/"+string(k)+".html", "mail/"+lang+"/"+string(k)+".txt"
			if !exists(common) || !exists(html) || !exists(text) {
				continue
			}
			var p pair
			p.html = htmltemplate.Must(htmltemplate.New("").Option("missingkey=error").ParseFS(files, "mail/layout.html", common, html))
			p.text = texttemplate.Must(texttemplate.New("").Option("missingkey=error").ParseFS(files, "mail/layout.txt", common, text))
			if out[strings.ToUpper(lang)] == nil {
				out[strings.ToUpper(lang)] = map[Kind]pair{}
			}
			out[strings.ToUpper(lang)][k] = p
		}
	}
	if len(out[fallback]) != len(kinds) {
		panic("templates: " + fallback + ", the fallback, does not have every kind")
	}
	return out
}

func exists(name string) bool {
	_, err := fs.Stat(files, name)
	return err == nil
}
