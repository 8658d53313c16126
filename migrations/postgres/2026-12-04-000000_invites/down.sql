ALTER TABLE mail_outbox DROP COLUMN recipient;
DROP TABLE stream_invites;
