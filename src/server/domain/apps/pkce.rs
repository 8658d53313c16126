//! Proof Key for Code Exchange (RFC 7636): an authorization code is only redeemed by whoever
//! holds the verifier its challenge was made from. `/oauth/*` takes `S256` only (OAuth 2.1);
//! Speckle's own app flow keeps its plain `challenge`, because Speckle's clients send one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rules::error::{bad_input, AppResult};

/// RFC 7636 §4.1: a verifier is 43 to 128 unreserved characters.
const VERIFIER_CHARS: std::ops::RangeInclusive<usize> = 43..=128;
/// The base64url (unpadded) form of a SHA-256 digest.
const S256_CHARS: usize = 43;
/// Speckle's plain challenge travels in a URL path; longer ones are refused.
const MAX_PLAIN_CHARS: usize = 256;

/// How a code's challenge was made from its verifier, as the request named it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    /// The `code_challenge_method` of a request; absent means `plain` (RFC 7636 §4.3).
    pub fn parse(method: Option<&str>) -> AppResult<Self> {
        match method {
            Some("S256") => Ok(Self::S256),
            None | Some("plain") => Ok(Self::Plain),
            Some(_) => Err(bad_input("code_challenge_method must be S256")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// A code's challenge, checked for its method's shape when the code is asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    method: Method,
    value: String,
}

impl Challenge {
    pub fn new(method: Method, value: &str) -> AppResult<Self> {
        let well_formed = match method {
            Method::S256 => value.len() == S256_CHARS && value.bytes().all(is_base64url),
            Method::Plain => {
                (1..=MAX_PLAIN_CHARS).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
            }
        };
        if !well_formed {
            return Err(bad_input(match method {
                Method::S256 => "code_challenge must be the unpadded base64url SHA-256 of the verifier",
                Method::Plain => "challenge must be 1 to 256 visible ASCII characters",
            }));
        }
        Ok(Self { method, value: value.to_owned() })
    }

    /// A challenge as it was stored beside its code; none if the method is unknown.
    pub fn stored(method: &str, value: &str) -> Option<Self> {
        let method = match method {
            "S256" => Method::S256,
            "plain" => Method::Plain,
            _ => return None,
        };
        Some(Self { method, value: value.to_owned() })
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// What is stored beside the code.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether `verifier` is the one this challenge was made from, compared in constant time.
    /// An S256 verifier of the wrong shape never matches (RFC 7636 §4.1).
    pub fn is_met_by(&self, verifier: &str) -> bool {
        match self.method {
            Method::S256 => {
                VERIFIER_CHARS.contains(&verifier.len())
                    && verifier.bytes().all(is_unreserved)
                    && bool::from(s256(verifier).as_bytes().ct_eq(self.value.as_bytes()))
            }
            Method::Plain => bool::from(verifier.as_bytes().ct_eq(self.value.as_bytes())),
        }
    }
}

/// `BASE64URL(SHA256(verifier))` without padding (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636, Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_7636_appendix_b_verifier_meets_its_challenge() {
        assert_eq!(s256(VERIFIER), CHALLENGE);
        let challenge = Challenge::new(Method::S256, CHALLENGE).unwrap();
        assert!(challenge.is_met_by(VERIFIER));
    }

    #[test]
    fn another_verifier_or_the_challenge_itself_does_not() {
        let challenge = Challenge::new(Method::S256, CHALLENGE).unwrap();
        let mut other = VERIFIER.to_owned();
        other.replace_range(0..1, "e");
        assert!(!challenge.is_met_by(&other));
        // Sending the challenge back as the verifier is the downgrade S256 exists to stop.
        assert!(!challenge.is_met_by(CHALLENGE));
    }

    #[test]
    fn an_s256_verifier_out_of_shape_never_matches() {
        let short = "a".repeat(42);
        let challenge = Challenge::new(Method::S256, &s256(&short)).unwrap();
        assert!(!challenge.is_met_by(&short), "42 characters is below RFC 7636's 43");
        let spaced = format!("{} ", "a".repeat(43));
        let challenge = Challenge::new(Method::S256, &s256(&spaced)).unwrap();
        assert!(!challenge.is_met_by(&spaced), "a space is not an unreserved character");
    }

    #[test]
    fn challenges_of_the_wrong_shape_are_refused() {
        assert!(Challenge::new(Method::S256, &CHALLENGE[1..]).is_err());
        assert!(Challenge::new(Method::S256, &format!("{CHALLENGE}=")[1..]).is_err());
        assert!(Challenge::new(Method::S256, &CHALLENGE.replace('-', "+")).is_err());
        assert!(Challenge::new(Method::Plain, "").is_err());
        assert!(Challenge::new(Method::Plain, &"a".repeat(MAX_PLAIN_CHARS + 1)).is_err());
        assert!(Challenge::new(Method::Plain, "with space").is_err());
    }

    #[test]
    fn speckle_s_plain_challenge_is_its_own_verifier() {
        let challenge = Challenge::new(Method::Plain, "d8f3a9c2b71e").unwrap();
        assert!(challenge.is_met_by("d8f3a9c2b71e"));
        assert!(!challenge.is_met_by("d8f3a9c2b71f"));
        assert!(!challenge.is_met_by("d8f3a9c2b71"));
    }

    #[test]
    fn the_method_is_s256_or_plain_and_plain_when_absent() {
        assert_eq!(Method::parse(Some("S256")).unwrap(), Method::S256);
        assert_eq!(Method::parse(Some("plain")).unwrap(), Method::Plain);
        assert_eq!(Method::parse(None).unwrap(), Method::Plain);
        assert!(Method::parse(Some("s256")).is_err());
    }
}
