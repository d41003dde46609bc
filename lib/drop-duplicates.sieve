# homeMail: each message lands in a mailbox once.
#
# A delivery cut short after the mailbox already holds the message (the mail namespace restarted
# while postfix waited for dovecot's LMTP reply, or an SMTP reply lost on its way back through the
# tunnel) is retried with the same Message-ID; this drops that second copy before any user script
# runs. Tracking is per mailbox user and by Message-ID only (RFC 7352); a message without one is
# never taken for a duplicate.
require "duplicate";

if duplicate {
  discard;
  stop;
}
