// Package dkim implements the DKIM keys of Cleanmail's domains: key
// generation (RSA, Ed25519), PEM parsing, the DNS TXT record that
// publishes a key, encryption of private keys at rest (AES-GCM, Sealer),
// and the signing of the mail the service sends (go-msgauth).
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Algorithm is a key's algorithm, as the store and the API name it.
type Algorithm string

// The algorithms of DKIM keys: rsa-sha256 (RFC 6376) and ed25519-sha256
// (RFC 8463).
const (
	RSA     Algorithm = "RSA"
	Ed25519 Algorithm = "ED25519"
)

// Bounds of RSA keys: RFC 8301 makes verifiers refuse keys under 1024
// bits; past 8192 a key buys nothing and its signatures cost a lot.
const (
	MinRSABits     = 1024
	MaxRSABits     = 8192
	DefaultRSABits = 2048
	// MaxGeneratedRSABits bounds the keys the server generates itself
	// (a 8192-bit key takes many seconds of CPU to find).
	MaxGeneratedRSABits = 4096
)

// Key is a domain's private key.
type Key struct {
	Algorithm Algorithm
	Signer    crypto.Signer
}

// Generate makes a new key: RSA of bits bits, or Ed25519 (bits ignored).
func Generate(alg Algorithm, bits int) (*Key, error) {
	switch alg {
	case RSA:
		if bits < MinRSABits || bits > MaxGeneratedRSABits {
			return nil, fmt.Errorf("dkim: an RSA key of %d bits is out of [%d, %d]", bits, MinRSABits, MaxGeneratedRSABits)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, err
		}
		return &Key{Algorithm: RSA, Signer: k}, nil
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return &Key{Algorithm: Ed25519, Signer: k}, nil
	}
	return nil, fmt.Errorf("dkim: unknown algorithm %q", alg)
}

// ParsePrivateKey reads a PEM private key: PKCS#1 ("RSA PRIVATE KEY") or
// PKCS#8 ("PRIVATE KEY", RSA or Ed25519). Its failures are Invalid
// faults about field, and never quote the input.
func ParsePrivateKey(field, in string) (*Key, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(in)))
	if block == nil {
		return nil, fault.Invalidf(field, "The private key is not in PEM form (-----BEGIN PRIVATE KEY----- …).")
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, fault.Invalidf(field, "The private key must be one PEM block alone.")
	}
	var parsed any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fault.Invalidf(field, "A PEM block of type %q is not a private key: PKCS#1 (RSA PRIVATE KEY) or PKCS#8 (PRIVATE KEY) is.", block.Type)
	}
	if err != nil {
		return nil, fault.Invalidf(field, "The private key does not parse as %s.", block.Type)
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fault.Invalidf(field, "An RSA key of %d bits is out of [%d, %d] bits.", bits, MinRSABits, MaxRSABits)
		}
		if err := k.Validate(); err != nil {
			return nil, fault.Invalidf(field, "The RSA private key is inconsistent.")
		}
		return &Key{Algorithm: RSA, Signer: k}, nil
	case ed25519.PrivateKey:
		return &Key{Algorithm: Ed25519, Signer: k}, nil
	}
	return nil, fault.Invalidf(field, "Only RSA and Ed25519 keys sign DKIM signatures.")
}

// MarshalPrivate is the key in PKCS#8 DER, what the store seals.
func (k *Key) MarshalPrivate() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k.Signer) }

// ParseDER reads what MarshalPrivate wrote.
func ParseDER(der []byte) (*Key, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		return &Key{Algorithm: RSA, Signer: k}, nil
	case ed25519.PrivateKey:
		return &Key{Algorithm: Ed25519, Signer: k}, nil
	}
	return nil, fmt.Errorf("dkim: a stored key of type %T", parsed)
}

// PublicKey is the value of the record's p= tag: the base64 of the
// SubjectPublicKeyInfo for RSA, of the raw 32-byte key for Ed25519
// (RFC 8463).
func (k *Key) PublicKey() string {
	return base64.StdEncoding.EncodeToString(publicBytes(k.Signer.Public()))
}

func publicBytes(pub crypto.PublicKey) []byte {
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return ed
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an *rsa.PublicKey always marshals
	}
	return der
}

// Record is the TXT record publishing a key (its p= value publicKey) of
// algorithm alg under selector for name, as the API answers it:
// "<selector>._domainkey.<name> TXT v=DKIM1; p=…", with "k=ed25519; "
// before p= for Ed25519.
func Record(selector, name string, alg Algorithm, publicKey string) string {
	return selector + "._domainkey." + name + " TXT " + TXT(alg, publicKey)
}

// TXT is the text of the record: what the DNS serves.
func TXT(alg Algorithm, publicKey string) string {
	if alg == Ed25519 {
		return "v=DKIM1; k=ed25519; p=" + publicKey
	}
	return "v=DKIM1; p=" + publicKey
}

// Matches checks that in, a public key, is k's: a PEM "PUBLIC KEY"
// (SubjectPublicKeyInfo) or "RSA PUBLIC KEY" (PKCS#1), a record's text
// ("v=DKIM1; p=…"), or a bare p= value. A mismatch or a key that does not
// parse is an Invalid fault about field.
func (k *Key) Matches(field, in string) error {
	got, err := parsePublic(in)
	if err != nil {
		return fault.Invalidf(field, "%s", err)
	}
	if subtle.ConstantTimeCompare(publicBytes(got), publicBytes(k.Signer.Public())) != 1 {
		return fault.Invalidf(field, "The public key is not the private key's.")
	}
	return nil
}

func parsePublic(in string) (crypto.PublicKey, error) {
	in = strings.TrimSpace(in)
	if strings.HasPrefix(in, "-----BEGIN") {
		block, _ := pem.Decode([]byte(in))
		if block == nil {
			return nil, fmt.Errorf("The public key is not valid PEM.")
		}
		switch block.Type {
		case "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("The public key does not parse as a SubjectPublicKeyInfo.")
			}
			return pub, nil
		case "RSA PUBLIC KEY":
			pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("The public key does not parse as a PKCS#1 RSA public key.")
			}
			return pub, nil
		}
		return nil, fmt.Errorf("A PEM block of type %q is not a public key.", block.Type)
	}
	p, ed := in, false
	if strings.Contains(in, "=") && strings.Contains(in, ";") || strings.HasPrefix(in, "v=") || strings.HasPrefix(in, "p=") {
		p = ""
		for _, tag := range strings.Split(in, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(tag), "=")
			switch strings.TrimSpace(name) {
			case "p":
				p = strings.Join(strings.Fields(value), "")
			case "k":
				ed = strings.TrimSpace(value) == "ed25519"
			}
		}
	}
	raw, err := base64.StdEncoding.DecodeString(p)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("The public key is neither PEM nor the base64 of a DKIM record's p= tag.")
	}
	if ed || len(raw) == ed25519.PublicKeySize {
		return ed25519.PublicKey(raw), nil
	}
	pub, err := x509.ParsePKIXPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("The public key does not parse as a SubjectPublicKeyInfo.")
	}
	return pub, nil
}
