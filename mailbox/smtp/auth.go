package smtp

import (
	"crypto/subtle"
	"errors"
	"sync"

	"github.com/emersion/go-sasl"
	"golang.org/x/crypto/bcrypt"
)

// User is an account that may send after SMTP AUTH. Set Password or a
// bcrypt PasswordHash.
type User struct {
	Username     string
	Password     string
	PasswordHash string
}

// users checks credentials.
type users map[string]User

func newUsers(list []User) users {
	u := make(users, len(list))
	for _, x := range list {
		u[x.Username] = x
	}
	return u
}

// check reports whether password is username's. Every answer costs one
// bcrypt comparison at the highest cost configured, so that timing tells
// neither which names exist nor which have a plain password.
func (u users) check(username, password string) bool {
	x, ok := u[username]
	switch {
	case ok && x.PasswordHash != "":
		return bcrypt.CompareHashAndPassword([]byte(x.PasswordHash), []byte(password)) == nil
	case ok:
		_ = bcrypt.CompareHashAndPassword(u.dummy(), []byte(password))
		return subtle.ConstantTimeCompare([]byte(x.Password), []byte(password)) == 1
	default:
		_ = bcrypt.CompareHashAndPassword(u.dummy(), []byte(password))
		return false
	}
}

// dummy returns a hash at the highest cost of u's hashes (bcrypt's
// default when there are none), made once per cost.
func (u users) dummy() []byte {
	cost := 0
	for _, x := range u {
		if c, err := bcrypt.Cost([]byte(x.PasswordHash)); err == nil && c > cost {
			cost = c
		}
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("x"), cost)
	if err != nil {
		return defaultDummyHash
	}
	dummyHashes.Store(cost, h)
	return h
}

// dummyHashes are bcrypt("x") by cost.
var dummyHashes sync.Map

// defaultDummyHash is bcrypt("x") at the default cost.
var defaultDummyHash = []byte("$2a$10$R0KireRNEDP0SZrCM/ZYsORjWW0mhCs8RQ/0ztFhRfIKU06iFOk5K")

func init() { dummyHashes.Store(bcrypt.DefaultCost, defaultDummyHash) }

// loginServer is the server side of the obsolete but still common LOGIN
// mechanism (Outlook, some appliances); go-sasl ships only its client.
type loginServer struct {
	step     int
	username string
	auth     sasl.PlainAuthenticator
}

func newLoginServer(auth sasl.PlainAuthenticator) sasl.Server { return &loginServer{auth: auth} }

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step++
		if response == nil {
			return []byte("Username:"), false, nil
		}
		s.username = string(response) // initial response: AUTH LOGIN <user>
		s.step++
		return []byte("Password:"), false, nil
	case 1:
		s.username = string(response)
		s.step++
		return []byte("Password:"), false, nil
	case 2:
		s.step++
		return nil, true, s.auth("", s.username, string(response))
	}
	return nil, false, errors.New("smtp: unexpected LOGIN response")
}
