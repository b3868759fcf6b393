package dkim_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/cleanmail/cleanmail/pkg/dkim"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

const message = "From: Ned Stark <ned@stark.net>\r\nTo: jon@wall.example\r\nSubject: Winter\r\n" +
	"Date: Mon, 02 Jan 2026 10:00:00 +0000\r\nMessage-ID: <1@stark.net>\r\n\r\nWinter is coming.\r\n"

// verify checks raw's one signature against the records lookup serves.
func verify(t *testing.T, raw []byte, records map[string]string) error {
	t.Helper()
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(raw), &msgauth.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return []string{r}, nil
			}
			return nil, errors.New("NXDOMAIN " + name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	return vs[0].Err
}

// txtOf is the record's name and text, as DNS serves it.
func txtOf(t *testing.T, record string) (string, string) {
	name, txt, ok := strings.Cut(record, " TXT ")
	if !ok {
		t.Fatalf("record %q has no TXT", record)
	}
	return name, txt
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range []dkim.Algorithm{dkim.RSA, dkim.Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := dkim.Generate(alg, 1024)
			if err != nil {
				t.Fatal(err)
			}
			record := dkim.Record("s1", "stark.net", alg, k.PublicKey())
			if alg == dkim.Ed25519 && !strings.Contains(record, "TXT v=DKIM1; k=ed25519; p=") {
				t.Errorf("Ed25519 record %q lacks k=ed25519", record)
			}
			if alg == dkim.RSA && !strings.HasPrefix(record, "s1._domainkey.stark.net TXT v=DKIM1; p=MI") {
				t.Errorf("RSA record %q", record)
			}
			name, txt := txtOf(t, record)
			signed, err := dkim.Sign([]byte(message), "stark.net", "s1", k)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(signed, []byte(message[strings.Index(message, "\r\n\r\n"):])) {
				t.Fatalf("signed message:\n%s", signed)
			}
			if err := verify(t, signed, map[string]string{name: txt}); err != nil {
				t.Errorf("verify: %v", err)
			}
			tampered := bytes.Replace(signed, []byte("Winter is coming."), []byte("Summer is coming."), 1)
			if err := verify(t, tampered, map[string]string{name: txt}); err == nil {
				t.Error("a changed body verifies")
			}
			other, _ := dkim.Generate(alg, 1024)
			if err := verify(t, signed, map[string]string{name: dkim.TXT(alg, other.PublicKey())}); err == nil {
				t.Error("verifies with another key's record")
			}
		})
	}
}

func TestParsePrivateKeyForms(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}))
	spki, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	rsaPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	rsaPub1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)}))
	for _, c := range []struct {
		name, pem string
		alg       dkim.Algorithm
		pubs      []string // forms of its public key
	}{
		{"PKCS#1", pkcs1, dkim.RSA, []string{rsaPub, rsaPub1}},
		{"PKCS#8 RSA", pkcs8(rk), dkim.RSA, []string{rsaPub}},
		{"PKCS#8 Ed25519", pkcs8(ek), dkim.Ed25519, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, err := dkim.ParsePrivateKey("privateKey", c.pem)
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != c.alg {
				t.Errorf("algorithm %s, want %s", k.Algorithm, c.alg)
			}
			pubs := append(c.pubs, k.PublicKey(), dkim.TXT(k.Algorithm, k.PublicKey()))
			for _, p := range pubs {
				if err := k.Matches("publicKey", p); err != nil {
					t.Errorf("Matches(%.40q): %v", p, err)
				}
			}
			other, _ := dkim.Generate(c.alg, 1024)
			if err := k.Matches("publicKey", other.PublicKey()); fault.KindOf(err) != fault.Invalid {
				t.Errorf("another key's public key: %v, want Invalid", err)
			}
			der, _ := k.MarshalPrivate()
			back, err := dkim.ParseDER(der)
			if err != nil || back.PublicKey() != k.PublicKey() {
				t.Errorf("ParseDER: %v", err)
			}
		})
	}
	for name, in := range map[string]string{
		"not PEM":     "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
		"public key":  rsaPub,
		"bad DER":     "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"two blocks":  pkcs1 + pkcs1,
		"empty":       "",
		"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		_, err := dkim.ParsePrivateKey("privateKey", in)
		e, ok := fault.As(err)
		if !ok || e.Kind != fault.Invalid || e.Field != "privateKey" {
			t.Errorf("%s: %v, want Invalid privateKey", name, err)
			continue
		}
		if in != "" && strings.Contains(e.Detail, strings.TrimSpace(in)[:12]) && name != "public key" && name != "certificate" {
			t.Errorf("%s: the detail quotes the input: %s", name, e.Detail)
		}
	}
}

func TestGenerateBounds(t *testing.T) {
	for _, bits := range []int{512, 1023, 8192} {
		if _, err := dkim.Generate(dkim.RSA, bits); err == nil {
			t.Errorf("Generate(RSA, %d) succeeds", bits)
		}
	}
	k, err := dkim.Generate(dkim.RSA, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if bits := k.Signer.Public().(*rsa.PublicKey).N.BitLen(); bits != 2048 {
		t.Errorf("%d bits", bits)
	}
}

func TestSealOpen(t *testing.T) {
	key, err := dkim.ParseSecretKey(dkim.NewSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	s, err := dkim.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("the private key's DER")
	a, b := s.Seal(plain, []byte("domain 1")), s.Seal(plain, []byte("domain 1"))
	if bytes.Equal(a, b) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if bytes.Contains(a, plain) {
		t.Error("the sealed value holds the plain text")
	}
	got, err := s.Open(a, []byte("domain 1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	for i := range a {
		c := bytes.Clone(a)
		c[i] ^= 1
		if _, err := s.Open(c, []byte("domain 1")); !errors.Is(err, dkim.ErrOpen) {
			t.Fatalf("byte %d flipped: %v, want ErrOpen", i, err)
		}
	}
	if _, err := s.Open(a, []byte("domain 2")); !errors.Is(err, dkim.ErrOpen) {
		t.Errorf("another context: %v", err)
	}
	if _, err := s.Open(a[:20], []byte("domain 1")); !errors.Is(err, dkim.ErrOpen) {
		t.Errorf("cut short: %v", err)
	}
	other, _ := dkim.ParseSecretKey(dkim.NewSecretKey())
	so, _ := dkim.NewSealer(other)
	if _, err := so.Open(a, []byte("domain 1")); !errors.Is(err, dkim.ErrOpen) {
		t.Errorf("another secret key: %v", err)
	}
	for _, bad := range []string{"", "00", strings.Repeat("g", 64), strings.Repeat("0", 63)} {
		if _, err := dkim.ParseSecretKey(bad); err == nil {
			t.Errorf("ParseSecretKey(%q) succeeds", bad)
		}
	}
}
