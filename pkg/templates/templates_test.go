package templates

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris and America/New_York wherever the tests run
)

// want are the languages that must have every kind: deleting any of their
// template files fails TestLanguages.
var want = []string{"DE", "EN", "ES", "FR"}

// footerWord is a word of each language's footer, in every mail of it
// and in no other language's.
var footerWord = map[string]string{"EN": "automatically", "FR": "automatiquement", "DE": "automatisch", "ES": "automático"}

// subjects are a part of each kind's subject per language.
var subjects = map[Kind]map[string]string{
	Welcome:       {"EN": "Welcome to Acme", "FR": "Bienvenue sur Acme", "DE": "Willkommen bei Acme", "ES": "Le damos la bienvenida a Acme"},
	Token:         {"EN": "sign-in link", "FR": "lien de connexion", "DE": "Anmeldelink", "ES": "enlace de acceso"},
	PasswordReset: {"EN": "Reset your Acme password", "FR": "mot de passe Acme", "DE": "Passwort für Acme zurücksetzen", "ES": "contraseña de Acme"},
	DigestSpam:    {"EN": "3 messages held in quarantine", "FR": "3 messages retenus en quarantaine", "DE": "3 Nachrichten in Quarantäne", "ES": "3 mensajes retenidos en cuarentena"},
	DigestClean:   {"EN": "3 messages delivered", "FR": "3 messages distribués", "DE": "3 Nachrichten zugestellt", "ES": "3 mensajes entregados"},
}

const link = "https://app.example.com/action?t=abc&u=1"

func release(i int) string { return fmt.Sprintf("https://app.example.com/release/%d?sig=xyz", i) }

// data is valid Data for k with n messages for the digests.
func data(k Kind, n int) Data {
	d := Data{
		Service:   "Acme",
		Recipient: "anna@example.com",
		Name:      "Anna Muster",
		Link:      link,
		Location:  time.UTC,
	}
	switch k {
	case Welcome:
		d.Expires = time.Now().Add(7 * 24 * time.Hour)
	case Token:
		d.Expires = time.Now().Add(12 * time.Hour)
	case PasswordReset:
		d.Expires = time.Now().Add(2 * time.Hour)
	default:
		d.Since = time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
		for i := range n {
			d.Messages = append(d.Messages, Item{
				From:        fmt.Sprintf("Sender %d <s%d@example.org>", i, i),
				Subject:     fmt.Sprintf("Offer number %d", i),
				Date:        time.Date(2026, 1, 2, 14, 4, 0, 0, time.UTC),
				ReleaseLink: release(i),
			})
		}
	}
	return d
}

func render(t *testing.T, k Kind, lang string, d Data) Mail {
	t.Helper()
	m, err := Render(k, lang, d)
	if err != nil {
		t.Fatalf("Render(%s, %q): %v", k, lang, err)
	}
	return m
}

// TestLanguages checks the embedded files: the languages of want have
// every kind, and each language directory holds exactly common.tmpl and
// the two files of each kind (a misspelt file would be dropped silently).
func TestLanguages(t *testing.T) {
	if got := Languages(); !slices.Equal(got, want) {
		t.Errorf("Languages() = %v, want %v", got, want)
	}
	expected := []string{"common.tmpl"}
	for _, k := range kinds {
		expected = append(expected, string(k)+".html", string(k)+".txt")
	}
	slices.Sort(expected)
	dirs, err := fs.ReadDir(files, "mail")
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		langs = append(langs, strings.ToUpper(dir.Name()))
		entries, err := fs.ReadDir(files, "mail/"+dir.Name())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		if !slices.Equal(got, expected) {
			t.Errorf("mail/%s holds %v, want %v", dir.Name(), got, expected)
		}
	}
	if !slices.Equal(langs, want) {
		t.Errorf("mail/ has the languages %v, want %v", langs, want)
	}
	for lang := range locales {
		if !slices.Contains(langs, lang) {
			t.Errorf("locales has %s, which has no templates", lang)
		}
	}
}

// TestEveryKindInEveryLanguage renders each kind in each language and
// checks that subject and body are in that language, whole and one line.
func TestEveryKindInEveryLanguage(t *testing.T) {
	for _, lang := range want {
		for _, k := range kinds {
			t.Run(lang+"/"+string(k), func(t *testing.T) {
				m := render(t, k, lang, data(k, 3))
				if m.Language != lang {
					t.Errorf("Language = %q, want %q", m.Language, lang)
				}
				if !strings.Contains(m.Subject, subjects[k][lang]) {
					t.Errorf("Subject = %q, want it to contain %q", m.Subject, subjects[k][lang])
				}
				if strings.ContainsAny(m.Subject, "\r\n") || m.Subject != strings.TrimSpace(m.Subject) {
					t.Errorf("Subject = %q: not one trimmed line", m.Subject)
				}
				for other, word := range footerWord {
					for part, body := range map[string]string{"HTML": m.HTML, "Text": m.Text} {
						if has := strings.Contains(body, word); has != (other == lang) {
							t.Errorf("%s contains %q (%s): %v, want %v\n%s", part, word, other, has, other == lang, body)
						}
					}
				}
				if !strings.Contains(m.HTML, `<html lang="`+strings.ToLower(lang)+`">`) {
					t.Errorf("HTML has no lang=%q", strings.ToLower(lang))
				}
				if !strings.Contains(m.HTML, `href="https://app.example.com/action?t=abc&amp;u=1"`) {
					t.Errorf("HTML has no link to %s:\n%s", link, m.HTML)
				}
				if !strings.Contains(m.Text, "\n"+link+"\n") {
					t.Errorf("Text has not the link %s on a line of its own:\n%s", link, m.Text)
				}
				if !strings.Contains(m.Text, "Anna Muster") || !strings.Contains(m.HTML, "Anna Muster") {
					t.Errorf("the greeting has not the name")
				}
				// common.tmpl is parsed for both parts: no markup may leak into the text.
				if strings.Contains(m.Text, "<p") || strings.Contains(m.Text, "</") || strings.Contains(m.Text, "&amp;") || strings.Contains(m.Text, "&#") || strings.Contains(m.Text, "{{") {
					t.Errorf("Text has markup:\n%s", m.Text)
				}
				if !strings.HasSuffix(m.Text, ".\n") || strings.Contains(m.Text, "\n\n\n") || strings.HasPrefix(m.Text, "\n") {
					t.Errorf("Text is not tidy:\n%q", m.Text)
				}
				// Self-contained: nothing for a client to fetch, no script.
				for _, bad := range []string{"<img", "<link", "<script", "<style", "url(", "@import", "src="} {
					if strings.Contains(strings.ToLower(m.HTML), bad) {
						t.Errorf("HTML contains %q", bad)
					}
				}
			})
		}
	}
}

func TestLanguageFallbackAndCase(t *testing.T) {
	for _, c := range []struct{ asked, used string }{
		{"EN", "EN"}, {"fr", "FR"}, {"Fr", "FR"}, {" de ", "DE"}, {"es-MX", "ES"}, {"de_AT", "DE"},
		{"xx", "EN"}, {"", "EN"}, {"it", "EN"}, {"english", "EN"},
	} {
		m := render(t, Token, c.asked, data(Token, 0))
		if m.Language != c.used {
			t.Errorf("Render(token, %q).Language = %q, want %q", c.asked, m.Language, c.used)
		}
		if !strings.Contains(m.Text, footerWord[c.used]) {
			t.Errorf("Render(token, %q): the text is not in %s:\n%s", c.asked, c.used, m.Text)
		}
	}
}

func TestDefaultService(t *testing.T) {
	d := data(Welcome, 0)
	d.Service = " "
	m := render(t, Welcome, "EN", d)
	if m.Subject != "Welcome to Cleanmail" {
		t.Errorf("Subject = %q, want %q", m.Subject, "Welcome to Cleanmail")
	}
}

func TestDataIsEscapedInHTML(t *testing.T) {
	d := data(DigestSpam, 1)
	d.Messages[0].From = `Evil <script>alert("from")</script>`
	d.Messages[0].Subject = `<img src=x onerror=alert(1)> & "win"`
	d.Name = "<b>Anna</b>"
	d.Service = "Acme <i>Mail</i>"
	m := render(t, DigestSpam, "EN", d)
	for _, raw := range []string{"<script", "<img", "<b>Anna", "<i>Mail"} {
		if strings.Contains(m.HTML, raw) {
			t.Errorf("HTML contains %q unescaped", raw)
		}
	}
	for _, escaped := range []string{
		"Evil &lt;script&gt;alert(&#34;from&#34;)&lt;/script&gt;",
		"&lt;img src=x onerror=alert(1)&gt; &amp; &#34;win&#34;",
		"&lt;b&gt;Anna&lt;/b&gt;",
		"<title>Acme &lt;i&gt;Mail&lt;/i&gt;: 1 message held in quarantine</title>",
	} {
		if !strings.Contains(m.HTML, escaped) {
			t.Errorf("HTML does not contain %q:\n%s", escaped, m.HTML)
		}
	}
	// The text part is text: the data as it is.
	if !strings.Contains(m.Text, `Evil <script>alert("from")</script>`) {
		t.Errorf("Text does not show the sender as it is:\n%s", m.Text)
	}
}

func TestLinksMustBeHTTP(t *testing.T) {
	bad := []string{
		"javascript:alert(1)",
		"JavaScript:alert(document.cookie)",
		" javascript:alert(1)",
		"javascript://example.com/%0Aalert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)",
		"mailto:a@example.com",
		"ftp://example.com/file",
		"//evil.example/path",
		"/relative/path",
		"app.example.com/x",
		"https://",
		"https:///path",
		"http://exa mple.com/",
		"https://example.com/a\nb",
		"https://example.com/a\r\nBcc: x@example.com",
		"https://example.com/\x00",
		"https://example.com/\u2028",
		"http://[::1",
	}
	for _, k := range kinds {
		for _, l := range bad {
			d := data(k, 1)
			d.Link = l
			if _, err := Render(k, "EN", d); !errors.Is(err, ErrLink) {
				t.Errorf("Render(%s) with Link %q: error %v, want ErrLink", k, l, err)
			}
		}
	}
	for _, l := range bad {
		d := data(DigestSpam, 3)
		d.Messages[2].ReleaseLink = l
		_, err := Render(DigestSpam, "FR", d)
		if !errors.Is(err, ErrLink) {
			t.Errorf("Render(digest_spam) with ReleaseLink %q: error %v, want ErrLink", l, err)
		} else if !strings.Contains(err.Error(), "Messages[2].ReleaseLink") {
			t.Errorf("the error %q does not name Messages[2].ReleaseLink", err)
		}
	}
	for _, l := range []string{"HTTPS://App.Example.com/x", "http://127.0.0.1:8080/q?a=b#f", "https://app.example.com/r/%C3%A9"} {
		d := data(DigestSpam, 1)
		d.Link, d.Messages[0].ReleaseLink = l, l
		if _, err := Render(DigestSpam, "EN", d); err != nil {
			t.Errorf("Render with the link %q: %v", l, err)
		}
	}
	// Required, where used.
	d := data(DigestSpam, 1)
	d.Messages[0].ReleaseLink = ""
	if _, err := Render(DigestSpam, "EN", d); err == nil || !strings.Contains(err.Error(), "ReleaseLink is required") {
		t.Errorf("no ReleaseLink: error %v, want it required", err)
	}
	d = data(Token, 0)
	d.Link = ""
	if _, err := Render(Token, "EN", d); err == nil || !strings.Contains(err.Error(), "Link is required") {
		t.Errorf("no Link: error %v, want it required", err)
	}
	// The delivered-mail digest has no release link: one given is not shown.
	d = data(DigestClean, 1)
	d.Messages[0].ReleaseLink = "javascript:alert(1)"
	m := render(t, DigestClean, "EN", d)
	if strings.Contains(m.HTML, "javascript") || strings.Contains(m.Text, "javascript") {
		t.Errorf("digest_clean shows a release link")
	}
}

func TestNoLineBreaksFromData(t *testing.T) {
	d := data(DigestSpam, 1)
	d.Service = "Acme\r\nBcc: victim@example.com"
	d.Name = "Anna\n\nRelease: https://evil.example/"
	d.Messages[0].Subject = "Hello\r\n   Release: https://evil.example/\u2028x\u202Ey\x00z"
	m := render(t, DigestSpam, "EN", d)
	if strings.ContainsAny(m.Subject, "\r\n\x00") {
		t.Errorf("Subject = %q: a line break from the data", m.Subject)
	}
	if want := "Acme Bcc: victim@example.com: 1 message held in quarantine"; m.Subject != want {
		t.Errorf("Subject = %q, want %q", m.Subject, want)
	}
	for _, line := range strings.Split(m.Text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "Release: https://evil") || strings.HasPrefix(line, "Bcc:") {
			t.Errorf("the data made a line of its own: %q\n%s", line, m.Text)
		}
	}
	if !strings.Contains(m.Text, "Subject: Hello Release: https://evil.example/ x y z\n") {
		t.Errorf("the subject is not made one line:\n%s", m.Text)
	}
	if strings.ContainsAny(m.Text, "\r\u2028\u202E\x00") || strings.ContainsAny(m.HTML, "\r\u2028\u202E\x00") {
		t.Errorf("a control character from the data reached the mail")
	}
}

func TestLongFieldsAreCut(t *testing.T) {
	d := data(DigestClean, 1)
	d.Messages[0].Subject = strings.Repeat("é", 5000)
	m := render(t, DigestClean, "EN", d)
	if want := strings.Repeat("é", maxField-1) + "…"; !strings.Contains(m.Text, "Subject: "+want+"\n") {
		t.Errorf("the subject is not cut to %d characters", maxField)
	}
	if strings.Contains(m.HTML, strings.Repeat("é", maxField)) {
		t.Errorf("the HTML subject is not cut")
	}
}

func TestDatesInTheUsersZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	winter := time.Date(2026, 1, 2, 14, 4, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 2, 13, 4, 0, 0, time.UTC)
	for _, c := range []struct {
		loc       *time.Location
		lang      string
		date      time.Time
		want      string
		zone      string
		sinceWant string
	}{
		{nil, "EN", winter, "2 January 2026 14:04", "UTC", "1 January 2026 08:00"},
		{time.UTC, "EN", winter, "2 January 2026 14:04", "UTC", "1 January 2026 08:00"},
		{paris, "EN", winter, "2 January 2026 15:04", "Europe/Paris", "1 January 2026 09:00"},
		{paris, "EN", summer, "2 July 2026 15:04", "Europe/Paris", "1 January 2026 09:00"},
		{newYork, "EN", winter, "2 January 2026 09:04", "America/New_York", "1 January 2026 03:00"},
		{paris, "FR", winter, "2 janvier 2026 15:04", "Europe/Paris", "1er janvier 2026 09:00"},
		{paris, "DE", winter, "2. Januar 2026 15:04", "Europe/Paris", "1. Januar 2026 09:00"},
		{paris, "ES", winter, "2 de enero de 2026 15:04", "Europe/Paris", "1 de enero de 2026 09:00"},
		{paris, "FR", summer, "2 juillet 2026 15:04", "Europe/Paris", "1er janvier 2026 09:00"},
		{newYork, "DE", time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC), "28. Februar 2026 23:30", "America/New_York", "1. Januar 2026 03:00"},
	} {
		d := data(DigestSpam, 1)
		d.Location = c.loc
		d.Messages[0].Date = c.date
		m := render(t, DigestSpam, c.lang, d)
		for part, body := range map[string]string{"HTML": m.HTML, "Text": m.Text} {
			for _, s := range []string{c.want, c.sinceWant, c.zone} {
				if !strings.Contains(body, s) {
					t.Errorf("%s in %v (%s): %s does not contain %q:\n%s", c.date, c.loc, c.lang, part, s, body)
				}
			}
		}
	}
	// The expiry too.
	d := data(Token, 0)
	d.Location = paris
	d.Expires = time.Now().Add(12 * time.Hour)
	m := render(t, Token, "EN", d)
	if want := locales["EN"].date(d.Expires.In(paris)) + " (Europe/Paris)"; !strings.Contains(m.Text, want) {
		t.Errorf("Text does not say the link expires %q:\n%s", want, m.Text)
	}
	if utc := locales["EN"].date(d.Expires.UTC()); strings.Contains(m.Text, utc) {
		t.Errorf("Text shows the expiry in UTC (%q)", utc)
	}
}

func TestValidity(t *testing.T) {
	for _, c := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"EN", 7*24*time.Hour - 2*time.Second, "7 days"},
		{"EN", 48 * time.Hour, "2 days"},
		{"EN", 47 * time.Hour, "47 hours"},
		{"EN", 12*time.Hour - time.Second, "12 hours"},
		{"EN", time.Hour, "1 hour"},
		{"EN", 59*time.Minute + 50*time.Second, "1 hour"},
		{"EN", 30 * time.Minute, "30 minutes"},
		{"EN", 10 * time.Second, "1 minute"},
		{"FR", 7 * 24 * time.Hour, "7 jours"},
		{"FR", time.Hour, "1 heure"},
		{"DE", 7 * 24 * time.Hour, "7 Tage"},
		{"DE", 2 * time.Hour, "2 Stunden"},
		{"ES", 72 * time.Hour, "3 días"},
		{"ES", time.Minute, "1 minuto"},
	} {
		if got := locales[c.lang].duration(c.d); got != c.want {
			t.Errorf("%s duration(%v) = %q, want %q", c.lang, c.d, got, c.want)
		}
	}
	for lang, want := range map[string]string{
		"EN": "This link is valid for 2 hours, until ",
		"FR": "Ce lien est valable 2 heures, jusqu’au ",
		"DE": "Dieser Link ist 2 Stunden lang gültig, bis zum ",
		"ES": "Este enlace es válido durante 2 horas, hasta el ",
	} {
		m := render(t, PasswordReset, lang, data(PasswordReset, 0))
		if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
			t.Errorf("%s password_reset does not say %q:\n%s", lang, want, m.Text)
		}
	}
}

func TestDigestCount(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		for lang, want := range map[string]string{
			"EN": "No message was held in quarantine for anna@example.com since 1 January 2026 08:00.",
			"FR": "Aucun message n’a été retenu en quarantaine pour anna@example.com depuis le 1er janvier 2026 08:00.",
			"DE": "Seit dem 1. Januar 2026 08:00 wurde keine Nachricht für anna@example.com in der Quarantäne zurückgehalten.",
			"ES": "No se ha retenido ningún mensaje en cuarentena para anna@example.com desde el 1 de enero de 2026 08:00.",
		} {
			m := render(t, DigestSpam, lang, data(DigestSpam, 0))
			if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
				t.Errorf("%s empty digest does not say %q:\n%s", lang, want, m.Text)
			}
			if strings.Contains(m.HTML, "<th") || strings.Contains(m.HTML, "/release/") || strings.Contains(m.Text, "/release/") {
				t.Errorf("%s empty digest has a table or a release link", lang)
			}
			if !strings.Contains(m.HTML, `href="https://app.example.com/action?t=abc&amp;u=1"`) || !strings.Contains(m.Text, link) {
				t.Errorf("%s empty digest has no link to the quarantine", lang)
			}
		}
		m := render(t, DigestSpam, "EN", data(DigestSpam, 0))
		if m.Subject != "Acme: no message held in quarantine" {
			t.Errorf("Subject = %q", m.Subject)
		}
		m = render(t, DigestClean, "EN", data(DigestClean, 0))
		if !strings.Contains(m.Text, "No message was delivered to anna@example.com") || m.Subject != "Acme: no message delivered" {
			t.Errorf("empty digest_clean: %q\n%s", m.Subject, m.Text)
		}
	})
	t.Run("one", func(t *testing.T) {
		m := render(t, DigestSpam, "EN", data(DigestSpam, 1))
		if m.Subject != "Acme: 1 message held in quarantine" || !strings.Contains(m.Text, "1 message was held") {
			t.Errorf("one message: %q\n%s", m.Subject, m.Text)
		}
		m = render(t, DigestSpam, "DE", data(DigestSpam, 1))
		if !strings.Contains(m.Text, "wurde 1 Nachricht") {
			t.Errorf("one message (DE):\n%s", m.Text)
		}
	})
	t.Run("three", func(t *testing.T) {
		for _, lang := range want {
			m := render(t, DigestSpam, lang, data(DigestSpam, 3))
			for i := range 3 {
				r := release(i)
				if n := strings.Count(m.HTML, `href="`+r+`"`); n != 1 {
					t.Errorf("%s HTML has %d links to %s, want 1", lang, n, r)
				}
				if n := strings.Count(m.Text, r+"\n"); n != 1 {
					t.Errorf("%s Text has %d links to %s, want 1", lang, n, r)
				}
				if !strings.Contains(m.Text, fmt.Sprintf("%d. ", i+1)) {
					t.Errorf("%s Text does not number message %d", lang, i+1)
				}
			}
			if n := strings.Count(m.HTML, "/release/"); n != 3 {
				t.Errorf("%s HTML has %d release links, want 3", lang, n)
			}
			if n := strings.Count(m.Text, "/release/"); n != 3 {
				t.Errorf("%s Text has %d release links, want 3", lang, n)
			}
			if n := strings.Count(m.HTML, "<th "); n != 4 {
				t.Errorf("%s HTML table has %d columns, want 4 (from, subject, date, release)", lang, n)
			}
			for i := range 3 {
				for _, s := range []string{fmt.Sprintf("Sender %d &lt;s%d@example.org&gt;", i, i), fmt.Sprintf("Offer number %d", i)} {
					if !strings.Contains(m.HTML, s) {
						t.Errorf("%s HTML does not list %q", lang, s)
					}
				}
			}
		}
		m := render(t, DigestSpam, "EN", data(DigestSpam, 3))
		if !strings.Contains(m.Text, "3 messages were held in quarantine for anna@example.com since 1 January 2026 08:00.") {
			t.Errorf("no count:\n%s", m.Text)
		}
		m = render(t, DigestClean, "EN", data(DigestClean, 3))
		if strings.Contains(m.HTML, "/release/") || strings.Contains(m.Text, "/release/") || strings.Contains(m.Text, "Release") {
			t.Errorf("digest_clean has release links:\n%s", m.Text)
		}
		if !strings.Contains(m.Text, "3 messages were delivered to anna@example.com") || strings.Count(m.HTML, "Offer number") != 3 {
			t.Errorf("digest_clean does not list 3 messages:\n%s", m.Text)
		}
	})
}

func TestRequiredData(t *testing.T) {
	for _, c := range []struct {
		name string
		kind Kind
		edit func(*Data)
		want string
	}{
		{"no recipient", Welcome, func(d *Data) { d.Recipient = "\n" }, "Recipient is required"},
		{"no expiry", Token, func(d *Data) { d.Expires = time.Time{} }, "Expires is required"},
		{"expired", PasswordReset, func(d *Data) { d.Expires = time.Now().Add(-time.Minute) }, "is past"},
		{"no since", DigestClean, func(d *Data) { d.Since = time.Time{} }, "Since is required"},
	} {
		d := data(c.kind, 1)
		c.edit(&d)
		if _, err := Render(c.kind, "EN", d); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Render("newsletter", "EN", data(Welcome, 0)); err == nil {
		t.Errorf("an unknown kind is rendered")
	}
}
