// Package imap is mailbridge's IMAP source: one Poller per mailbox folder
// reads new mail with its own connection and hands it to the pipeline.
//
// What makes it lose nothing and fetch nothing twice:
//
//   - Fetching uses BODY.PEEK[], so reading a message never marks it \Seen.
//   - A message is acknowledged on the server (its after-action: \Seen, a
//     keyword, a move or a delete) only after Ingest returned nil, that is
//     after the queue committed it.
//   - The checkpoint (UIDVALIDITY and the last processed UID) advances only
//     after the after-actions of a batch succeeded, and only over an
//     unbroken run of processed UIDs. A crash anywhere leaves the checkpoint
//     behind the truth, never ahead: the next run fetches those messages
//     again and the queue's dedup record (Receipt.Duplicate) recognises
//     them; they are acknowledged without being posted again.
//   - A changed UIDVALIDITY resets the checkpoint and the folder is read
//     again from the start; dedup by Message-ID keeps that from reposting.
//   - A message the queue rejects for good (an empty one) is moved to the
//     error folder, or flagged $MailbridgeError, and the checkpoint passes
//     it: it cannot block the folder or loop.
package imap
