//! The keys that sign GitHub's secret scanning alerts (SPEC §9), fetched from its list and
//! kept; an unknown key id refetches the list at most once a minute, and a key GitHub marks
//! not current signs nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// GitHub's list of the keys that sign its secret scanning alerts.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
/// An unknown key id refetches the list at most this often (milliseconds).
const REFETCH_EVERY_MS: i64 = 60_000;

/// The signing keys, fetched from `SECRET_SCANNING_KEYS_URL` and kept.
pub struct ScanningKeys {
    url: String,
    /// How many times the list was fetched (for tests and logs).
    fetches: std::sync::atomic::AtomicUsize,
    keys: Mutex<HashMap<String, VerifyingKey>>,
    /// When the list was last fetched (successfully or not), by the server's clock.
    fetched: tokio::sync::Mutex<Option<i64>>,
    client: reqwest::Client,
}

impl ScanningKeys {
    pub fn new(url: impl Into<String>) -> ScanningKeys {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("speckle-tokens secret scanning")
            .build()
            .unwrap_or_default();
        ScanningKeys {
            url: url.into(),
            fetches: Default::default(),
            keys: Mutex::default(),
            fetched: tokio::sync::Mutex::new(None),
            client,
        }
    }

    /// How many times the list was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The key `id`: from memory, else from a fresh list if the last fetch is a minute old
    /// at `now` (one fetch at a time; those waiting on it then look again). A clock set back
    /// since the last fetch allows one more.
    pub async fn key(&self, id: &str, now: i64) -> Option<VerifyingKey> {
        if let Some(key) = self.known(id) {
            return Some(key);
        }
        let mut fetched = self.fetched.lock().await;
        if let Some(key) = self.known(id) {
            return Some(key);
        }
        if fetched.is_some_and(|at| (at..at + REFETCH_EVERY_MS).contains(&now)) {
            return None;
        }
        *fetched = Some(now);
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "secret scanning keys fetched");
                *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = keys;
            }
            Err(error) => tracing::warn!(%error, url = %self.url, "could not fetch the secret scanning keys"),
        }
        self.known(id)
    }

    fn known(&self, id: &str) -> Option<VerifyingKey> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(id).copied()
    }

    async fn fetch(&self) -> Result<HashMap<String, VerifyingKey>, String> {
        #[derive(Deserialize)]
        struct KeyList {
            public_keys: Vec<PublicKey>,
        }
        #[derive(Deserialize)]
        struct PublicKey {
            key_identifier: String,
            key: String,
            /// GitHub retires a key by marking it not current: it signs nothing any more.
            #[serde(default = "current")]
            is_current: bool,
        }
        fn current() -> bool {
            true
        }
        let response = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        let list: KeyList = response
            .error_for_status()
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let mut keys = HashMap::new();
        for key in list.public_keys.into_iter().filter(|key| key.is_current) {
            match VerifyingKey::from_public_key_pem(&key.key) {
                Ok(parsed) => {
                    keys.insert(key.key_identifier, parsed);
                }
                Err(error) => {
                    tracing::warn!(%error, id = key.key_identifier, "a secret scanning key is not P-256")
                }
            }
        }
        Ok(keys)
    }
}
