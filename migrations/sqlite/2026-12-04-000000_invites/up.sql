-- Invitations to streams (SPEC §10): an owner invites a user, or an email without an account
-- yet; the invitee accepts or declines. The invitation's secret (mailed to an email) is kept
-- only as its SHA-256 digest. Rows stay after they are answered, so that the daily limit of
-- an inviter counts every invitation they sent.
CREATE TABLE stream_invites (
    id TEXT PRIMARY KEY NOT NULL,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    inviter_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The invited account, once there is one (set at once for a user invited by id or by the
    -- email of an account; on sign-up for an email).
    invitee_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- The invited address, normalised (null for a user invited by id).
    email TEXT,
    role TEXT NOT NULL,
    message TEXT,
    secret_digest BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- 'pending', then 'accepted', 'declined' or 'cancelled'.
    status TEXT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX stream_invites_stream ON stream_invites (stream_id, status);
CREATE INDEX stream_invites_invitee ON stream_invites (invitee_id, status);
CREATE INDEX stream_invites_email ON stream_invites (email, status);
CREATE INDEX stream_invites_inviter ON stream_invites (inviter_id, created_at);

-- A message to an address that is not a user's (an invitation to an email): its user is the
-- one it is sent for (the inviter), its recipient the address.
ALTER TABLE mail_outbox ADD COLUMN recipient TEXT;
