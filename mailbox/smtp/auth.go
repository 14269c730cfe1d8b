package smtp

import (
	"crypto/subtle"
	"errors"

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

// check reports whether password is username's. Unknown users cost a
// bcrypt comparison too, so that timing does not tell which names exist.
func (u users) check(username, password string) bool {
	x, ok := u[username]
	switch {
	case !ok:
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return false
	case x.PasswordHash != "":
		return bcrypt.CompareHashAndPassword([]byte(x.PasswordHash), []byte(password)) == nil
	default:
		return subtle.ConstantTimeCompare([]byte(x.Password), []byte(password)) == 1
	}
}

// dummyHash is bcrypt("x") at the default cost.
var dummyHash = []byte("$2a$10$R0KireRNEDP0SZrCM/ZYsORjWW0mhCs8RQ/0ztFhRfIKU06iFOk5K")

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
