package api_test

import (
	"image/color"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gomail "github.com/emersion/go-message/mail"

	"github.com/cleanmail/cleanmail/pkg/api"
	"github.com/cleanmail/cleanmail/pkg/peertest"
	"github.com/cleanmail/cleanmail/pkg/submit"
)

// TestTaskMailsThroughPostfix: the three mails of POST /tasks, submitted
// to a real Postfix that delivers them over LMTP into a real Dovecot, are
// read back over IMAP as the master user: one in each recipient's INBOX,
// from NOTIFICATION_SENDER, in the recipient's language (the domain's when
// it has none), Auto-Submitted, multipart/alternative (text and HTML, as
// Dovecot parses them), through Postfix (its Received), their links on
// APP_URL and working through the API; the delivered welcome mail's HTML
// is rendered by headless Chromium. The quarantine digest goes the same
// way, and its release link sends the held message through the domain's
// platform (that Postfix) into the user's INBOX.
func TestTaskMailsThroughPostfix(t *testing.T) {
	t.Parallel()
	// One pair serves both halves, whose recipients differ: two Dovecots
	// and two Postfixes would only load the machine.
	dv := peertest.StartDovecot(t)
	pf := peertest.StartPostfix(t, dv)
	relay, err := submit.ParseURL("smtp://" + pf.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	pfHost, pfPort, _ := net.SplitHostPort(pf.SMTPAddr)
	pfPortN, _ := strconv.Atoi(pfPort)
	forEachDBWithJobs(t, func(o *api.Options) { o.Relays, o.PublicURL = []submit.Relay{relay}, publicURL }, func(t *testing.T, e *env) {
		half := path.Base(t.Name()) // sqlite, postgres
		addr := func(name string) string { return name + "." + half + "@lannister.net" }
		// The domain's own mail server (its platform, where a release
		// goes) is that Postfix too.
		lannister := e.newDomain("lannister.net", map[string]any{"defaultLanguage": "ES", "quarantine": true,
			"platforms": []map[string]any{{"name": "westeros", "transportDest": pfHost, "transportType": "SMTP", "transportPort": pfPortN, "authType": "local"}}})
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "APP_URL", "value": "app.lannister.net"}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + lannister + "/options", Body: map[string]any{"name": "NOTIFICATION_SENDER", "value": "noreply@lannister.net"}}).expect(201)
		e.newUser(lannister, addr("cersei"), map[string]any{"language": "FR", "firstname": "Cersei", "lastname": "Lannister"})
		e.newUser(lannister, addr("jaime"), map[string]any{"language": "DE"})
		tyrion := e.newUser(lannister, addr("tyrion"))

		for _, c := range []struct{ command, who string }{
			{"send_welcome_mail", "cersei"}, {"send_password_reset_mail", "jaime"}, {"send_token_mail", "tyrion"},
		} {
			r := e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": c.command, "params": map[string]any{"recipient": addr(c.who)}}}).expect(202)
			e.waitTask(t, r.Header.Get("Location"), "done")
		}

		welcome := deliveredMail(t, dv, addr("cersei"), "Bienvenue sur Cleanmail", "set-password")
		reset := deliveredMail(t, dv, addr("jaime"), "Passwort für Cleanmail zurücksetzen", "reset-password")
		signIn := deliveredMail(t, dv, addr("tyrion"), "Su enlace de acceso a Cleanmail", "")
		if !strings.Contains(welcome.text, "Bonjour Cersei Lannister,") {
			t.Errorf("the welcome mail's greeting:\n%s", welcome.text)
		}

		// The links, through the API: the welcome and reset tokens set a
		// password once; the sign-in token is a Bearer token.
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": welcome.token, "password": "HearMeRoar!"}}).expect(204)
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": welcome.token, "password": "Another1!"}}).problem(422, "already been used")
		if !e.passwordIs(t, addr("cersei"), "HearMeRoar!") {
			t.Error("the delivered welcome link did not set the password once")
		}
		e.do(req{Method: "POST", Path: "/password", Token: "-", Body: map[string]any{"token": reset.token, "password": "Kingslayer1"}}).expect(204)
		if !e.passwordIs(t, addr("jaime"), "Kingslayer1") {
			t.Error("the delivered reset link did not set the password")
		}
		if u := e.do(req{Method: "GET", Path: "/users/" + tyrion, Token: signIn.token}).expect(200).json(); u["email"] != addr("tyrion") {
			t.Errorf("the delivered token signs in as %v", u["email"])
		}

		// Each mail once: nothing more arrived meanwhile.
		for _, who := range []string{"cersei", "jaime", "tyrion"} {
			if n := len(inbox(t, dv, addr(who))); n != 1 {
				t.Errorf("%s's INBOX holds %d messages, want 1", addr(who), n)
			}
		}

		// The quarantine digest, through Postfix too; its release link
		// sends the held message through the domain's platform (Postfix)
		// into the user's INBOX at Dovecot.
		e.newUser(lannister, addr("joffrey"), map[string]any{"language": "EN"})
		held := mail("sansa@stark.net", addr("joffrey"), "A letter from Winterfell", "letter-"+half+"@stark.net", "Come home.")
		e.deliver(addr("joffrey"), "Quarantine", held, time.Now().Add(-time.Hour))
		r := e.do(req{Method: "POST", Path: "/tasks", Body: map[string]any{"command": "send_spamfight_spam_mail", "params": map[string]any{"recipient": addr("joffrey")}}}).expect(202)
		e.waitTask(t, r.Header.Get("Location"), "done")
		var digest []*imapclient.FetchMessageBuffer
		for deadline := time.Now().Add(20 * time.Second); len(digest) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			digest = inbox(t, dv, addr("joffrey"))
		}
		if len(digest) != 1 || digest[0].Envelope == nil || !strings.Contains(strings.ToLower(digest[0].Envelope.Subject), "quarantine") {
			t.Fatalf("joffrey's INBOX: %d messages", len(digest))
		}
		raw := string(digest[0].BodySection[0].Bytes)
		mr, err := gomail.CreateReader(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var text string
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if ct, _, _ := p.Header.(*gomail.InlineHeader).ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				text = string(b)
			}
		}
		links := releaseLink.FindAllStringSubmatch(text, -1)
		if len(links) != 1 || !strings.Contains(text, "A letter from Winterfell") {
			t.Fatalf("the delivered digest (%d release links):\n%s", len(links), text)
		}
		e.do(req{Method: "GET", Path: links[0][1], Token: "-"}).expect(200)
		var after []*imapclient.FetchMessageBuffer
		for deadline := time.Now().Add(20 * time.Second); len(after) < 2 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			after = inbox(t, dv, addr("joffrey"))
		}
		if len(after) != 2 || after[1].Envelope == nil || after[1].Envelope.Subject != "A letter from Winterfell" {
			t.Errorf("after the release, joffrey's INBOX holds %d messages", len(after))
		}

		// One picture is enough (both halves deliver the same template),
		// and Chromium is the heaviest peer on this machine.
		if half == "sqlite" {
			screenshotWelcome(t, welcome.html)
		}
	})
}

// mailIn is a mail as delivered: its decoded parts and its link's token.
type mailIn struct {
	text, html, token string
}

// deliveredMail waits (20 s at most) for the one message in user's INBOX on
// d, checks it is the mail of subject with a link to page on APP_URL, as
// NOTIFICATION_SENDER sent it through Postfix, and returns it.
func deliveredMail(t *testing.T, d *peertest.Dovecot, user, subject, page string) mailIn {
	t.Helper()
	var msgs []*imapclient.FetchMessageBuffer
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if msgs = inbox(t, d, user); len(msgs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("%s's INBOX holds %d messages, want 1", user, len(msgs))
	}
	m := msgs[0]
	raw := m.BodySection[0].Bytes

	// As Dovecot parsed it.
	if m.Envelope == nil || m.Envelope.Subject != subject || len(m.Envelope.From) != 1 || m.Envelope.From[0].Addr() != "noreply@lannister.net" {
		t.Errorf("%s: Dovecot's envelope %+v, want the subject %q from noreply@lannister.net", user, m.Envelope, subject)
	}
	var parts []string
	if mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart); ok && strings.EqualFold(mp.Subtype, "alternative") {
		for _, c := range mp.Children {
			if sp, ok := c.(*imap.BodyStructureSinglePart); ok {
				parts = append(parts, strings.ToLower(sp.MediaType()+"; charset="+sp.Params["charset"]))
			}
		}
	}
	if strings.Join(parts, ", ") != "text/plain; charset=utf-8, text/html; charset=utf-8" {
		t.Errorf("%s: Dovecot's body structure %#v, want multipart/alternative of UTF-8 text/plain and text/html", user, m.BodyStructure)
	}

	// As read here.
	mr, err := gomail.CreateReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("%s: %v\n%s", user, err, raw)
	}
	h := mr.Header
	if got, _ := h.Subject(); got != subject {
		t.Errorf("%s: Subject %q, want %q", user, got, subject)
	}
	if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Address != "noreply@lannister.net" {
		t.Errorf("%s: From %v, want noreply@lannister.net", user, from)
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Address != user {
		t.Errorf("%s: To %v", user, to)
	}
	if rp := h.Get("Return-Path"); rp != "<noreply@lannister.net>" {
		t.Errorf("%s: Return-Path %q, want the sender as the envelope's", user, rp)
	}
	if date, err := h.Date(); err != nil || time.Since(date).Abs() > 5*time.Minute {
		t.Errorf("%s: Date %q (%v)", user, h.Get("Date"), err)
	}
	if id, err := h.MessageID(); err != nil || !strings.HasSuffix(id, "@lannister.net") {
		t.Errorf("%s: Message-ID %q (%v)", user, h.Get("Message-Id"), err)
	}
	viaPostfix := false
	for _, r := range h.Values("Received") {
		viaPostfix = viaPostfix || strings.Contains(r, "by peertest.localhost (Postfix) with ESMTP")
	}
	if !viaPostfix {
		t.Errorf("%s: no Received of Postfix in %q", user, h.Values("Received"))
	}
	if a := h.Get("Auto-Submitted"); a != "auto-generated" {
		t.Errorf("%s: Auto-Submitted %q, want auto-generated", user, a)
	}
	if ct, _, _ := h.ContentType(); ct != "multipart/alternative" {
		t.Errorf("%s: Content-Type %q", user, h.Get("Content-Type"))
	}
	var got mailIn
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		b, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		switch ct, _, _ := p.Header.(*gomail.InlineHeader).ContentType(); ct {
		case "text/plain":
			got.text = string(b)
		case "text/html":
			got.html = string(b)
		}
	}
	if got.text == "" || got.html == "" {
		t.Fatalf("%s: a part is missing or empty:\n%s", user, raw)
	}
	href := linkToken.FindString(got.text)
	p, token := link(t, got.text)
	if p != page {
		t.Errorf("%s: the link goes to %q, want https://app.lannister.net/%s", user, p, page)
	}
	if !strings.Contains(got.html, `href="`+href+`"`) {
		t.Errorf("%s: the HTML does not link to %s:\n%s", user, href, got.html)
	}
	got.token = token
	return got
}

// inbox reads every message of user's INBOX on d over IMAP, as the
// master user, within 10 s.
func inbox(t *testing.T, d *peertest.Dovecot, user string) []*imapclient.FetchMessageBuffer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", d.IMAPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(user+d.Separator+d.MasterUser, d.MasterPassword).Wait(); err != nil {
		t.Fatalf("IMAP login as %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("IMAP SELECT INBOX of %s: %v", user, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{},
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatalf("IMAP FETCH of %s's INBOX: %v", user, err)
	}
	return msgs
}

// screenshotWelcome renders html, the welcome mail's part as delivered,
// in headless Chromium and checks the picture: a PNG of 800×1000, many
// colours (text), and the colours of pkg/templates/mail/layout.html
// where it puts them (the header's blue across the top of the card). With CLEANMAIL_SCREENSHOTS=dir
// the picture is kept there.
func screenshotWelcome(t *testing.T, html string) {
	t.Helper()
	const width, height = 800, 1000
	img, shot := peertest.ScreenshotHTML(t, "delivered_welcome", html, width, height)
	b := img.Bounds()
	at := func(x, y int) color.RGBA {
		r, g, bl, a := img.At(x, y).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}
	}
	// The layout's colours: the header's and the button's blue, the
	// page's grey, the card's white.
	blue, grey, white := color.RGBA{0x0f, 0x4c, 0x81, 0xff}, color.RGBA{0xf2, 0xf4, 0xf7, 0xff}, color.RGBA{0xff, 0xff, 0xff, 0xff}
	colours := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			colours[at(x, y)]++
		}
	}
	if len(colours) < 32 {
		t.Errorf("the screenshot has %d colours, want at least 32 (text rendered)", len(colours))
	}
	if share := float64(colours[blue]) / (width * height); share < 0.03 {
		t.Errorf("the header's blue %v covers %.1f%% of the screenshot, want at least 3%%", blue, 100*share)
	}
	// The card is centred (640 px in 800): the header's blue at the top
	// of the middle, white below it, grey at the sides.
	for _, p := range []struct {
		x, y int
		c    color.RGBA
	}{{400, 30, blue}, {400, 150, white}, {20, 500, grey}, {780, 500, grey}} {
		if got := at(p.x, p.y); got != p.c {
			t.Errorf("the pixel at (%d, %d) is %v, want %v", p.x, p.y, got, p.c)
		}
	}
	if t.Failed() {
		t.Logf("the screenshot: %s (keep it with CLEANMAIL_SCREENSHOTS=dir)", shot)
	}
}
