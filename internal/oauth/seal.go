package oauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Key seals the tokens kept in the store with AES-256-GCM.
type Key struct {
	aead cipher.AEAD
	id   [4]byte // the first bytes of the key's SHA-256: tells a wrong key from damage
}

// ParseKey reads a 32-byte key written in base64 (standard or URL
// alphabet, padded or not) or hex, as `openssl rand -base64 32` makes one.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if b, err := dec(s); err == nil && len(b) == 32 {
			raw = b
			break
		}
	}
	if raw == nil {
		return nil, errors.New("must be 32 random bytes in base64 or hex (openssl rand -base64 32)")
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Key{aead: aead}
	sum := sha256.Sum256(raw)
	copy(k.id[:], sum[:])
	return k, nil
}

// The first byte of a sealed token says how it is sealed.
const (
	sealedClear = 'p' // JSON in clear (no key, oauth2.allowPlaintextTokens)
	sealedGCM   = 'g' // key id, nonce, AES-256-GCM of the JSON
)

// storedToken is what is sealed: the refresh token and the access token
// with its expiry, which another instance may use until it expires.
type storedToken struct {
	AccessToken  string    `json:"access_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

func (t storedToken) oauth2() *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
}

// errWrongKey says a token was sealed with another key than the one
// configured.
var errWrongKey = errors.New("sealed with another oauth2.encryptionKey")

// seal encrypts t for mailbox (the mailbox name is authenticated, so a
// row copied to another mailbox does not open); k nil leaves it in clear.
func seal(k *Key, mailbox string, t *oauth2.Token) ([]byte, error) {
	js, err := json.Marshal(storedToken{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry})
	if err != nil {
		return nil, err
	}
	if k == nil {
		return append([]byte{sealedClear}, js...), nil
	}
	out := make([]byte, 1+len(k.id), 1+len(k.id)+k.aead.NonceSize()+len(js)+k.aead.Overhead())
	out[0] = sealedGCM
	copy(out[1:], k.id[:])
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, js, aad(mailbox)), nil
}

// unseal reverses seal. A sealed token needs the key it was sealed with;
// a token in clear opens with or without a key.
func unseal(k *Key, mailbox string, b []byte) (storedToken, error) {
	var t storedToken
	if len(b) == 0 {
		return t, errors.New("empty token")
	}
	js := b[1:]
	switch b[0] {
	case sealedClear:
	case sealedGCM:
		if k == nil {
			return t, errors.New("sealed, and no oauth2.encryptionKey is configured")
		}
		n := 1 + len(k.id) + k.aead.NonceSize()
		if len(b) < n+k.aead.Overhead() {
			return t, errors.New("sealed token cut short")
		}
		if string(b[1:1+len(k.id)]) != string(k.id[:]) {
			return t, errWrongKey
		}
		var err error
		if js, err = k.aead.Open(nil, b[1+len(k.id):n], b[n:], aad(mailbox)); err != nil {
			return t, fmt.Errorf("sealed token does not open: %w", err)
		}
	default:
		return t, fmt.Errorf("unknown token format %q", b[0])
	}
	if err := json.Unmarshal(js, &t); err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

func aad(mailbox string) []byte { return []byte("mailbridge oauth2 token\x00" + mailbox) }

// seedHash identifies a configured refresh token (with the client it
// belongs to) without keeping it: the stored token records the seed it
// descends from, so that a new one pasted into the configuration wins
// over it. Empty for no seed.
func seedHash(clientID, refreshToken string) []byte {
	if refreshToken == "" {
		return nil
	}
	sum := sha256.Sum256([]byte("mailbridge oauth2 seed\x00" + clientID + "\x00" + refreshToken))
	return sum[:]
}
