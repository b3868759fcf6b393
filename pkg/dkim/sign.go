package dkim

import (
	"bytes"

	"github.com/emersion/go-msgauth/dkim"
)

// SignedHeaders are the fields a signature covers (RFC 6376, 5.4.1), those
// a message lacks included: a field added later breaks the signature.
var SignedHeaders = []string{
	"From", "Reply-To", "Sender", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"Disposition-Notification-To", "Importance",
}

// Sign returns raw with a DKIM-Signature field first: d=domain, s=selector,
// relaxed/relaxed, SHA-256, over SignedHeaders and the whole body.
func Sign(raw []byte, domain, selector string, k *Key) ([]byte, error) {
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             SignedHeaders,
	})
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
