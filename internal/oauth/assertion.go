package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// assertionType is RFC 7523's client assertion type.
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Certificate is an application's certificate and RSA key: it signs the
// client assertions that stand in for a client secret (Microsoft 365
// application access).
type Certificate struct {
	key *rsa.PrivateKey
	// thumbprint is the x5t header: base64url of the SHA-1 of the DER
	// certificate, by which Microsoft finds the certificate uploaded.
	thumbprint string
	// NotAfter is when the certificate expires.
	NotAfter time.Time
}

// LoadCertificate reads a PEM certificate and its PEM RSA key (PKCS #1 or
// PKCS #8; both may be in one file).
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the key is not an RSA key (RS256 client assertions need one)")
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(leaf.Raw)
	return &Certificate{key: key, thumbprint: base64.RawURLEncoding.EncodeToString(sum[:]), NotAfter: leaf.NotAfter}, nil
}

// assertion is a client assertion for clientID at the token endpoint
// audience: an RS256 JWT, valid for 5 minutes, with a fresh jti.
func (c *Certificate) assertion(clientID, audience string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.ClaimStrings{audience},
		ID:        hex.EncodeToString(jti[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	})
	t.Header["x5t"] = c.thumbprint
	s, err := t.SignedString(c.key)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return s, nil
}
