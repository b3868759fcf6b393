package dkim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// SecretKeySize is the size of a Sealer's key: AES-256.
const SecretKeySize = 32

// Sealer encrypts private keys at rest with AES-256-GCM: a random 96-bit
// nonce, prepended to the ciphertext and its tag.
type Sealer struct{ aead cipher.AEAD }

// NewSealer makes a Sealer of a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("dkim: a secret key of %d bytes, want %d", len(key), SecretKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// ParseSecretKey reads a secret key written as 64 hexadecimal characters.
func ParseSecretKey(s string) ([]byte, error) {
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != SecretKeySize {
		return nil, fmt.Errorf("a secret key is %d hexadecimal characters", 2*SecretKeySize)
	}
	return key, nil
}

// NewSecretKey is a random secret key, in hexadecimal.
func NewSecretKey() string {
	key := make([]byte, SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return hex.EncodeToString(key)
}

// Seal encrypts plain, bound to context (what it belongs to: Open must be
// given the same).
func (s *Sealer) Seal(plain, context []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return s.aead.Seal(nonce, nonce, plain, context)
}

// ErrOpen is what Open says of a sealed value it cannot open: tampered
// with, another context's, or sealed under another key.
var ErrOpen = errors.New("dkim: the sealed key does not open (altered, or sealed under another secret key)")

// Open decrypts what Seal sealed with context.
func (s *Sealer) Open(sealed, context []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], context)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
