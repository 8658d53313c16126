// The tables, written once for both backends: ids are text, times are Unix milliseconds
// (BIGINT), digests are bytes. Keep in step with every folder under `migrations/`.

diesel::table! {
    users (id) {
        id -> Text,
        suuid -> Text,
        name -> Text,
        email -> Text,
        password_hash -> Text,
        bio -> Nullable<Text>,
        company -> Nullable<Text>,
        avatar -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_digest -> Binary,
        last_chars -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        description -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        family_id -> Nullable<Text>,
        replaces -> Nullable<Text>,
        grace_until -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        limited -> Bool,
    }
}

diesel::table! {
    security_events (id) {
        id -> Text,
        user_id -> Text,
        token_id -> Nullable<Text>,
        kind -> Text,
        detail -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        at -> BigInt,
        once_key -> Nullable<Text>,
    }
}

diesel::table! {
    token_addresses (token_id, ip) {
        token_id -> Text,
        ip -> Text,
        last_seen -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        user_id -> Text,
        once_key -> Text,
        subject -> Text,
        body -> Text,
        created_at -> BigInt,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        claimed_until -> Nullable<BigInt>,
        sent_at -> Nullable<BigInt>,
        recipient -> Nullable<Text>,
    }
}

diesel::table! {
    expiry_notices (token_id, stage) {
        token_id -> Text,
        stage -> Text,
        mail_id -> Text,
    }
}

diesel::table! {
    streams (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        is_public -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    stream_acl (stream_id, user_id) {
        stream_id -> Text,
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        data -> Text,
        expires_at -> BigInt,
        user_id -> Nullable<Text>,
    }
}

diesel::table! {
    leak_alerts (id) {
        id -> Text,
        user_id -> Text,
        token_id -> Text,
        found_by -> Text,
        url -> Nullable<Text>,
        source -> Nullable<Text>,
        created_at -> BigInt,
        dismissed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    commits (id) {
        id -> Text,
        stream_id -> Text,
        branch_name -> Text,
        referenced_object -> Text,
        message -> Text,
        source_application -> Nullable<Text>,
        author_id -> Text,
        created_at -> BigInt,
        total_children_count -> Nullable<BigInt>,
        parents -> Nullable<Text>,
    }
}

diesel::table! {
    branches (id) {
        id -> Text,
        stream_id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        author_id -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    objects (stream_id, id) {
        stream_id -> Text,
        id -> Text,
        speckle_type -> Nullable<Text>,
        total_children_count -> BigInt,
        size_bytes -> BigInt,
        data -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    trusted_devices (digest) {
        digest -> Binary,
        user_id -> Text,
        last_used_at -> BigInt,
    }
}

diesel::table! {
    stream_invites (id) {
        id -> Text,
        stream_id -> Text,
        inviter_id -> Text,
        invitee_id -> Nullable<Text>,
        email -> Nullable<Text>,
        role -> Text,
        message -> Nullable<Text>,
        secret_digest -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        status -> Text,
        answered_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    token_usage (token_id, what) {
        token_id -> Text,
        what -> Text,
        last_at -> BigInt,
    }
}

diesel::table! {
    token_streams (token_id, stream_id) {
        token_id -> Text,
        stream_id -> Text,
        access -> Text,
    }
}

diesel::table! {
    stream_favorites (user_id, stream_id) {
        user_id -> Text,
        stream_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    stream_activity (id) {
        id -> Text,
        stream_id -> Text,
        user_id -> Text,
        action_type -> Text,
        resource_type -> Text,
        resource_id -> Text,
        info -> Text,
        message -> Text,
        at -> BigInt,
    }
}

diesel::table! {
    apps (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        author_id -> Nullable<Text>,
        secret_digest -> Nullable<Binary>,
        redirect_urls -> Text,
        scopes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    app_grants (id) {
        id -> Text,
        app_id -> Text,
        user_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    app_codes (digest) {
        digest -> Binary,
        grant_id -> Text,
        scopes -> Text,
        redirect_uri -> Nullable<Text>,
        challenge -> Text,
        challenge_method -> Text,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    app_refresh_tokens (id) {
        id -> Text,
        digest -> Binary,
        grant_id -> Text,
        family_id -> Text,
        access_token_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    app_device_codes (digest) {
        digest -> Binary,
        user_code -> Text,
        app_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        interval_secs -> BigInt,
        polled_at -> Nullable<BigInt>,
        user_id -> Nullable<Text>,
        decision -> Nullable<Text>,
        used_at -> Nullable<BigInt>,
        grant_id -> Nullable<Text>,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(api_tokens -> app_grants (grant_id));
diesel::joinable!(app_grants -> apps (app_id));
diesel::joinable!(apps -> users (author_id));
diesel::joinable!(app_grants -> users (user_id));
diesel::joinable!(app_codes -> app_grants (grant_id));
diesel::joinable!(app_refresh_tokens -> app_grants (grant_id));
diesel::joinable!(app_device_codes -> apps (app_id));
diesel::joinable!(app_device_codes -> app_grants (grant_id));
diesel::joinable!(trusted_devices -> users (user_id));
diesel::joinable!(security_events -> users (user_id));
diesel::joinable!(token_addresses -> api_tokens (token_id));
diesel::joinable!(mail_outbox -> users (user_id));
diesel::joinable!(expiry_notices -> api_tokens (token_id));
diesel::joinable!(leak_alerts -> api_tokens (token_id));
diesel::joinable!(branches -> streams (stream_id));
diesel::joinable!(branches -> users (author_id));
diesel::joinable!(objects -> streams (stream_id));
diesel::joinable!(commits -> streams (stream_id));
diesel::joinable!(commits -> users (author_id));
diesel::joinable!(stream_acl -> streams (stream_id));
diesel::joinable!(stream_acl -> users (user_id));
diesel::joinable!(stream_invites -> streams (stream_id));
diesel::joinable!(stream_favorites -> streams (stream_id));
diesel::joinable!(token_streams -> streams (stream_id));
diesel::joinable!(token_streams -> api_tokens (token_id));
diesel::joinable!(token_usage -> api_tokens (token_id));
diesel::joinable!(stream_activity -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    stream_invites,
    stream_favorites,
    token_streams,
    token_usage,
    stream_activity,
    api_tokens,
    streams,
    stream_acl,
    sessions,
    commits,
    branches,
    objects,
    security_events,
    token_addresses,
    mail_outbox,
    expiry_notices,
    leak_alerts,
    trusted_devices,
    apps,
    app_grants,
    app_codes,
    app_refresh_tokens,
    app_device_codes
);
