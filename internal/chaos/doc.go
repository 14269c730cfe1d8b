// Package chaos holds the fault-injection tests: real mailbridge processes
// killed with SIGKILL and restarted while mail arrives over SMTP and from
// Dovecot, an API that fails, stalls and loses answers, and afterwards a
// count of what arrived, what arrived twice and what was left behind.
//
// The tests are slow (minutes) and start real servers, so they run only
// with MAILBRIDGE_CHAOS=1; scripts/test sets it and runs them verbosely so
// that their figures are in the CI log.
package chaos
