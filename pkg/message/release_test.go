package message

import (
	"strings"
	"testing"
)

func TestStripSpamTag(t *testing.T) {
	const body = "\r\nSubject: [SPAM] a body line that looks like a header\r\nX-Spam-Flag: YES\r\n"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"CRLF", "Received: x\r\nSubject: [SPAM] Hello\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=9.1\r\n tests=A,B\r\n\tC\r\nTo: a@b.c\r\n" + body,
			"Received: x\r\nSubject: Hello\r\nTo: a@b.c\r\n" + body},
		{"LF", "Subject: [SPAM] Hello\nX-Spam-Flag: YES\nTo: a@b.c\n\nbody\n", "Subject: Hello\nTo: a@b.c\n\nbody\n"},
		{"mixed line endings kept", "Subject: [SPAM] Hello\nX-Spam-Flag: YES\r\nTo: a@b.c\r\n\r\nbody", "Subject: Hello\nTo: a@b.c\r\n\r\nbody"},
		{"folded Subject, prefix on the first line", "Subject: [SPAM] Hello\r\n world\r\n\r\n", "Subject: Hello\r\n world\r\n\r\n"},
		{"folded before the prefix", "Subject:\r\n [SPAM] Hello\r\n\r\n", "Subject:\r\n Hello\r\n\r\n"},
		{"folded inside the prefix", "Subject: [SPAM]\r\n Hello\r\n\r\n", "Subject: Hello\r\n\r\n"},
		{"names in other cases", "SUBJECT: [spam] Hello\r\nx-spam-flag: YES\r\nX-SPAM-STATUS: No\r\n\r\n", "SUBJECT: Hello\r\n\r\n"},
		{"space before the colon", "Subject : [SPAM] Hello\r\n\r\n", "Subject : Hello\r\n\r\n"},
		{"tab after the colon kept", "Subject:\t[SPAM] Hello\r\n\r\n", "Subject:\tHello\r\n\r\n"},
		{"prefix not at the start", "Subject: Re: [SPAM] Hello\r\n\r\n", "Subject: Re: [SPAM] Hello\r\n\r\n"},
		{"only the first prefix", "Subject: [SPAM] [SPAM] Hello\r\n\r\n", "Subject: [SPAM] Hello\r\n\r\n"},
		{"the tag is the whole subject", "Subject: [SPAM]\r\nTo: a@b.c\r\n\r\n", "Subject: \r\nTo: a@b.c\r\n\r\n"},
		{"the tag before an encoded word", "Subject: [SPAM] =?UTF-8?Q?H=C3=A9llo?=\r\n\r\n", "Subject: =?UTF-8?Q?H=C3=A9llo?=\r\n\r\n"},
		{"the tag inside an encoded word is left", "Subject: =?UTF-8?Q?[SPAM]_H=C3=A9llo?=\r\n\r\n", "Subject: =?UTF-8?Q?[SPAM]_H=C3=A9llo?=\r\n\r\n"},
		{"X-Spam-Flag last, no body", "Subject: [SPAM] x\r\nX-Spam-Flag: YES", "Subject: x\r\n"},
		{"similar names kept", "X-Spam-Flagged: 1\r\nX-Spam-Status-Old: 2\r\nX-Spam-Score: 3\r\n\r\n", "X-Spam-Flagged: 1\r\nX-Spam-Status-Old: 2\r\nX-Spam-Score: 3\r\n\r\n"},
		{"nothing to do", "Subject: Hello\r\n\r\n[SPAM] body", "Subject: Hello\r\n\r\n[SPAM] body"},
		{"header only in the body", "To: a@b.c\r\n\r\nSubject: [SPAM] x\r\nX-Spam-Flag: YES\r\n", "To: a@b.c\r\n\r\nSubject: [SPAM] x\r\nX-Spam-Flag: YES\r\n"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(StripSpamTag([]byte(tc.in), "[SPAM] ")); got != tc.want {
				t.Errorf("StripSpamTag(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
	if got := string(StripSpamTag([]byte("Subject: [SPAM] x\r\nX-Spam-Flag: YES\r\n\r\n"), "")); got != "Subject: [SPAM] x\r\n\r\n" {
		t.Errorf("with no prefix: %q", got)
	}
	// The message read back has the subject without the tag.
	out := StripSpamTag([]byte(nested[:strings.Index(nested, "Date:")]+"X-Spam-Flag: YES\r\n"+nested[strings.Index(nested, "Date:"):]), "[SPAM] ")
	if string(out) != nested {
		t.Error("removing X-Spam-Flag changed another byte")
	}
}

func TestInfected(t *testing.T) {
	for _, tc := range []struct {
		raw, header string
		want        bool
	}{
		{"X-Virus-Status: Infected (Eicar-Test-Signature)\r\n\r\n", "", true},
		{"x-virus-status: infected\n\n", "", true},
		{"X-Virus-Status:\r\n Infected\r\n\r\n", "", true},
		{"X-Virus-Status: Clean\r\nX-Virus-Status: Infected\r\n\r\n", "", true},
		{"X-Virus-Status: Clean\r\n\r\n", "", false},
		{"X-Virus-Status: Not Infected\r\n\r\n", "", false},
		{"X-Virus-Status: Infe\r\n\r\n", "", false},
		{"To: a@b.c\r\n\r\nX-Virus-Status: Infected\r\n", "", false},
		{"X-Scan: INFECTED\r\n\r\n", "X-Scan", true},
		{"X-Virus-Status: Infected\r\n\r\n", "X-Scan", false},
	} {
		if got := Infected([]byte(tc.raw), tc.header); got != tc.want {
			t.Errorf("Infected(%q, %q) = %v, want %v", tc.raw, tc.header, got, tc.want)
		}
	}
}
