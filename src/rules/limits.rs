//! Every limit and choice a person or a client meets, in one place: the server enforces them
//! and the pages render them (`maxlength`, `minlength`, the expiration choices), so the two
//! cannot drift. Lengths of text fields are in [`super::text`], with how they are checked.

/// A day in milliseconds (times are Unix milliseconds throughout).
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// The largest request body we read (SPEC §6: bigger gets 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

// Accounts.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// No address is longer (RFC 5321); a longer one is refused before any work.
pub const MAX_EMAIL_CHARS: usize = 254;
/// An avatar is a URL, or an image as a `data:` URL, as Speckle's web app uploads them.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;
/// A user search needs this many characters (Speckle's rule).
pub const MIN_SEARCH_CHARS: usize = 3;
/// A search is at most this long.
pub const MAX_SEARCH_CHARS: usize = 256;

// Tokens.
/// Live tokens per account (SPEC §3); a token in its grace period counts.
pub const MAX_LIVE_TOKENS: i64 = 500;

/// The most streams a token limited to chosen streams reaches (SPEC §12).
pub const MAX_TOKEN_STREAMS: usize = 100;
/// The longest lifespan a token minted through the API may ask for: 200 years (specklepy asks
/// for 100 by default). Longer would overflow dates.
pub const MAX_LIFESPAN_MS: i64 = 200 * 365 * DAY_MS;
/// The shortest: any positive number of milliseconds, as Speckle takes it (a script may want a
/// token for the next nine seconds; the dialog's shortest choice is 7 days).
pub const MIN_LIFESPAN_MS: i64 = 1;
/// How long a regenerated token keeps working unless its new one is used first.
pub const DEFAULT_GRACE_MS: i64 = DAY_MS;
/// The longest grace period a rotation may ask for.
pub const MAX_GRACE_MS: i64 = 7 * DAY_MS;
/// A token expiring within this window "expires soon" (SPEC §8: the list's notice, the first
/// warning mail).
pub const EXPIRES_SOON_MS: i64 = 7 * DAY_MS;
/// The expiration choices of the New token dialog: (form value, label). The value is days.
pub const EXPIRATIONS: [(&str, &str); 5] =
    [("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "No expiration")];
/// The choice the dialog starts with.
pub const DEFAULT_EXPIRATION: &str = "90";

/// The lifespan in days of an expiration choice of [`EXPIRATIONS`] (`Some(None)`: no
/// expiration); `None` for anything else.
pub fn expiration_days(choice: &str) -> Option<Option<i64>> {
    match choice {
        "never" => Some(None),
        days => {
            EXPIRATIONS.iter().find(|(value, _)| *value == days).and_then(|_| days.parse().ok()).map(Some)
        }
    }
}

// Apps (SPEC §11).
/// An authorization code is redeemed within a minute, once.
pub const CODE_LIFETIME_MS: i64 = 60_000;
/// A device code waits ten minutes for its person (RFC 8628 §3.2's `expires_in`).
pub const DEVICE_CODE_LIFETIME_MS: i64 = 600_000;
/// Seconds a device waits between polls; each `slow_down` adds five (RFC 8628 §3.5).
pub const DEVICE_POLL_INTERVAL_SECS: i64 = 5;
/// An app's access token lives an hour; its refresh token renews it.
pub const APP_ACCESS_LIFETIME_MS: i64 = 3_600_000;
/// A grant unused this long expires: its refresh token does not outlive it.
pub const GRANT_UNUSED_MS: i64 = 90 * DAY_MS;
/// Sign-ins one app may hold at once for one person (each code exchange begins one); past
/// it, the oldest ends.
pub const MAX_APP_SESSIONS: usize = 50;
/// Apps one person may register.
pub const MAX_APPS_PER_AUTHOR: i64 = 50;
/// Authorized apps listed at most (on `/profile`, `authorizedApps`), the latest first.
pub const MAX_APPS_LISTED: usize = 200;
/// Redirect URLs one app may register.
pub const MAX_REDIRECT_URLS: usize = 10;

// Streams, branches, commits.
/// The branch every stream has, the default of commits, which cannot be deleted or renamed.
pub const MAIN_BRANCH: &str = "main";
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_REFERENCE_CHARS: usize = 512;
/// The most parents a commit may name.
pub const MAX_PARENTS: usize = 100;

// Pages of lists.
/// Rows of a list page unless the client says.
pub const DEFAULT_PAGE: i32 = 25;
/// The most rows a client may ask for in one page.
pub const MAX_PAGE: i32 = 100;
/// An object's children: the page unless the client says, and the most in one.
pub const DEFAULT_CHILDREN_PAGE: i32 = 100;
pub const MAX_CHILDREN_PAGE: i32 = 1000;
