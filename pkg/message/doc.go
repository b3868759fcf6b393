// Package message reads and builds e-mail messages (RFC 5322, MIME) with
// go-message: Read gives the headers, the body and the attachments the API
// shows, numbered as IMAP numbers parts, and Part streams one of them;
// StripSpamTag and Infected read and rewrite a quarantined message for its
// release, byte for byte; Build makes the message a user sends. Failures
// are *fault.Error.
package message
