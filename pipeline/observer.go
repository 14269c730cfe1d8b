package pipeline

import "github.com/enneo/mailbridge/mapper/autoreply"

// Observer is told what happens to messages, for metrics. The pipeline
// calls it after the store recorded the event, from many goroutines at
// once, on the delivery path: implementations must be safe for concurrent
// use and cheap. Config.Observer nil means NopObserver.
type Observer interface {
	// Ingested: a source's message was committed (or recognised as a
	// duplicate, which is acknowledged but not queued again).
	Ingested(source string, subchannel int, duplicate bool)
	// IngestFailed: the queue could not commit a message; the source keeps
	// it (SMTP 451, IMAP leaves it unread).
	IngestFailed(source string)
	// Delivered: the API stored the conversation (or already held it).
	Delivered(subchannel int)
	// Retried: an attempt failed and the message waits for another, with
	// backoff or, when the API rejected the token, after delivery.authRetry.
	Retried(subchannel int)
	// DeadLettered: the message was moved to the dead letters.
	DeadLettered(subchannel int, reason DeadReason)
	// Classified: mail sense classed a message on its first attempt and
	// chose the policy for it.
	Classified(class autoreply.Class, policy Policy)
}

// DeadReason says why a message became a dead letter, in a few words fit
// for a metric label.
type DeadReason string

// The reasons for a dead letter.
const (
	// DeadRejected: the API refused the message for good (400, other 4xx).
	DeadRejected DeadReason = "rejected"
	// DeadExhausted: out of delivery.maxAttempts or delivery.maxAge.
	DeadExhausted DeadReason = "exhausted"
	// DeadUnparseable: nothing of the message was readable.
	DeadUnparseable DeadReason = "unparseable"
	// DeadPolicy: a mailSense policy of deadletter.
	DeadPolicy DeadReason = "policy"
	// DeadLoop: held by the loop breaker.
	DeadLoop DeadReason = "loop"
)

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Ingested(string, int, bool)         {}
func (NopObserver) IngestFailed(string)                {}
func (NopObserver) Delivered(int)                      {}
func (NopObserver) Retried(int)                        {}
func (NopObserver) DeadLettered(int, DeadReason)       {}
func (NopObserver) Classified(autoreply.Class, Policy) {}
