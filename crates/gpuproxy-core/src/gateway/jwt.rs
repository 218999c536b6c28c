//! Access tokens (JWTs) verified on the hot path: signature, issuer and expiry here, with
//! the key the control plane pushes; who the session belongs to comes from the session
//! cache (one entry per login session, not per token), so a fresh token of a known session
//! never waits for Python, and revoking the session (logout, refresh-token reuse) drops
//! the entry at once.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::principal::{digest, Digest};

/// The claims the hot path needs (the token carries more).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub exp: u64,
}

pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// `key`: the HS256 secret, or the PEM public key for RS256 / EdDSA.
    pub fn new(algorithm: &str, key: &[u8], issuer: &str, leeway_s: u64) -> Result<Self, String> {
        let (alg, key) = match algorithm {
            "HS256" => (Algorithm::HS256, DecodingKey::from_secret(key)),
            "RS256" => (
                Algorithm::RS256,
                DecodingKey::from_rsa_pem(key).map_err(|e| format!("RS256 public key: {e}"))?,
            ),
            "EdDSA" => (
                Algorithm::EdDSA,
                DecodingKey::from_ed_pem(key).map_err(|e| format!("EdDSA public key: {e}"))?,
            ),
            other => return Err(format!("unsupported JWT algorithm {other:?}")),
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = leeway_s;
        Ok(Self { key, validation })
    }

    /// The claims of a valid, unexpired token of ours; None for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// A credential shaped like a JWT (three dot-separated parts), not an API key.
pub fn looks_like_jwt(credential: &[u8]) -> bool {
    let mut dots = credential.split(|&b| b == b'.');
    !credential.starts_with(b"gpx_") && dots.nth(2).is_some() && dots.next().is_none()
}

/// The session cache's key: distinct from every credential digest (the prefix cannot
/// begin a credential the cache is keyed by).
pub fn session_digest(sid: &str) -> Digest {
    let mut bytes = Vec::with_capacity(12 + sid.len());
    bytes.extend_from_slice(b"jwt-session\0");
    bytes.extend_from_slice(sid.as_bytes());
    digest(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn token(secret: &[u8], iss: &str, exp: u64) -> String {
        let claims = serde_json::json!({
            "sub": "u1", "sid": "s1", "exp": exp, "iss": iss, "iat": 0, "jti": "j",
            "email": "a@example.com", "is_admin": false,
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn valid_tokens_pass_and_everything_else_fails() {
        let v = JwtVerifier::new("HS256", b"secret", "aiserve-gpuproxy", 5).unwrap();
        let good = token(b"secret", "aiserve-gpuproxy", now() + 60);
        assert_eq!(
            v.verify(&good),
            Some(Claims {
                sub: "u1".into(),
                sid: "s1".into(),
                exp: now() + 60
            })
        );
        assert!(v
            .verify(&token(b"other", "aiserve-gpuproxy", now() + 60))
            .is_none());
        assert!(v
            .verify(&token(b"secret", "someone-else", now() + 60))
            .is_none());
        assert!(v
            .verify(&token(b"secret", "aiserve-gpuproxy", now() - 60))
            .is_none());
        let mut forged = good.clone();
        forged.pop();
        assert!(v.verify(&forged).is_none());
        assert!(v.verify("not.a.jwt").is_none());
    }

    #[test]
    fn shapes_and_session_keys() {
        assert!(looks_like_jwt(b"aaa.bbb.ccc"));
        assert!(!looks_like_jwt(b"gpx_abc.def.ghi"));
        assert!(!looks_like_jwt(b"gpx_0123456789abcdef_secret"));
        assert_ne!(session_digest("s1"), session_digest("s2"));
        assert_ne!(session_digest("s1"), digest(b"s1"));
        assert!(JwtVerifier::new("none", b"", "x", 0).is_err());
        assert!(JwtVerifier::new("RS256", b"not pem", "x", 0).is_err());
    }
}
