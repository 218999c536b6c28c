//! Phase 2 (filter): who is asking, may they, is the body acceptable, and is the money
//! there. Everything here is decided from memory; Python is asked only on a cache miss
//! (unknown credential) or when the user has no usable spend allowance.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Response};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;

use super::allowance::{Allowances, Hold};
use super::control::{AllowanceAnswer, AuthAnswer, Refusal};
use super::jwt::{self, JwtVerifier};
use super::openai_request::{parse_request, Endpoint, ParsedRequest};
use super::principal::{credential, digest, Digest, Lookup, Principal};
use super::ratelimit;
use super::respond::{json_response, ApiError, OutBody};
use super::settle::unix_ms;
use super::state::DataPlane;

/// Why the request stops here: an error we word, or a refusal Python worded.
#[derive(Debug)]
pub enum Stop {
    Api(ApiError),
    Refused(Arc<Refusal>),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl Stop {
    /// The status the answer will have (recorded in the usage row).
    pub fn status(&self) -> u16 {
        match self {
            Self::Api(e) => e.status,
            Self::Refused(r) => r.status,
        }
    }

    pub fn into_response(self) -> Response<OutBody> {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Refused(r) => {
                let mut resp = json_response(r.status, r.body.clone());
                for (k, v) in &r.headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::try_from(k.as_str()),
                        HeaderValue::from_str(v),
                    ) {
                        resp.headers_mut().append(k, v);
                    }
                }
                resp
            }
        }
    }
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        401,
        "Incorrect or missing API key: send Authorization: Bearer <key> or X-API-Key",
    )
    .code("invalid_api_key")
}

fn unavailable(message: String, code: &'static str) -> ApiError {
    ApiError::new(503, message)
        .code(code)
        .header("retry-after", "1")
}

/// The caller, or 401 (after counting the failure against the client's address).
pub async fn authenticate(
    dp: &Arc<DataPlane>,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<Arc<Principal>, Stop> {
    let cred = credential(
        headers.get("x-api-key").map(HeaderValue::as_bytes),
        headers
            .get(http::header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    );
    let Some(cred) = cred else {
        return Err(failed(dp, ip));
    };
    let verifier = jwt::looks_like_jwt(cred)
        .then(|| dp.jwt.read().clone())
        .flatten();
    if let Some(verifier) = verifier {
        return authenticate_token(dp, &verifier, cred, ip).await;
    }
    let d = digest(cred);
    lookup(dp, d, cred, ip).await
}

/// A JWT: verified here, then its session looked up (one cache entry and at most one
/// callback per login session, whatever the number of tokens).
async fn authenticate_token(
    dp: &Arc<DataPlane>,
    verifier: &JwtVerifier,
    token: &[u8],
    ip: IpAddr,
) -> Result<Arc<Principal>, Stop> {
    let claims = std::str::from_utf8(token)
        .ok()
        .and_then(|t| verifier.verify(t));
    let Some(claims) = claims else {
        return Err(failed(dp, ip));
    };
    let p = lookup(dp, jwt::session_digest(&claims.sid), token, ip).await?;
    if *p.user_id != *claims.sub || p.session_id.as_deref() != Some(claims.sid.as_str()) {
        return Err(failed(dp, ip));
    }
    Ok(p)
}

/// The principal cached under `d`, or the control plane's answer for `cred`.
async fn lookup(
    dp: &Arc<DataPlane>,
    d: Digest,
    cred: &[u8],
    ip: IpAddr,
) -> Result<Arc<Principal>, Stop> {
    match dp.keys.lookup(&d, Instant::now(), unix_ms()) {
        Lookup::Hit(p) => Ok(p),
        Lookup::Refresh(p) => {
            let (dp, cred) = (Arc::clone(dp), Bytes::copy_from_slice(cred));
            tokio::spawn(async move {
                // The answer replaces the entry (or refuses the credential from then on).
                let _ = dp.control.authenticate(d, &cred).await;
            });
            Ok(p)
        }
        Lookup::Denied => Err(failed(dp, ip)),
        // An address over its failure budget is not worth a question to Python (a storm
        // of made-up keys must not keep the control plane busy).
        Lookup::Miss if !dp.auth_failures.would_allow(&ip.to_string(), 1) => Err(failed(dp, ip)),
        Lookup::Miss => match dp.control.authenticate(d, cred).await {
            Ok(AuthAnswer::Known(p)) => Ok(p),
            Ok(AuthAnswer::Denied) => Err(failed(dp, ip)),
            Err(u) => Err(unavailable(u.0, "auth_unavailable").into()),
        },
    }
}

/// A failed authentication: 401, or 429 once this address fails too often (guessing).
fn failed(dp: &DataPlane, ip: IpAddr) -> Stop {
    let key = ip.to_string();
    match dp.auth_failures.check(&key, 1) {
        Ok(()) => unauthenticated().into(),
        Err(e) => {
            let wait_s = match e {
                crate::limits::LimitsError::RateLimited { retry_after_ms } => {
                    retry_after_ms.div_ceil(1000).max(1)
                }
                _ => 60,
            };
            ApiError::new(429, "too many failed authentications from this address")
                .code("auth_throttled")
                .header("retry-after", wait_s.to_string())
                .into()
        }
    }
}

/// Counts the request against each of the caller's rate limits (the user's shared by all
/// of the user's keys, and a key's own tighter one): the X-RateLimit-* headers of the
/// tightest, or the 429 of the first that refuses.
pub async fn rate_limit(
    dp: &DataPlane,
    p: &Principal,
) -> Result<Vec<(&'static str, String)>, Stop> {
    let mut tightest: Option<ratelimit::RateDecision> = None;
    for limit in &p.rate_limits {
        let decision = match &dp.shared_limits {
            Some(shared) => shared.check(&dp.limiter, limit).await,
            None => ratelimit::check(&dp.limiter, limit),
        };
        if !decision.allowed {
            let mut err = ApiError::new(
                429,
                format!(
                    "rate limit of {} requests per minute exceeded",
                    decision.limit
                ),
            )
            .code("rate_limited");
            err.headers = decision.headers();
            return Err(err.into());
        }
        if tightest.is_none_or(|t| decision.remaining < t.remaining) {
            tightest = Some(decision);
        }
    }
    Ok(tightest.map(|d| d.headers()).unwrap_or_default())
}

/// The whole request body, 413 past the limit.
pub async fn read_body(dp: &DataPlane, body: Incoming) -> Result<Bytes, Stop> {
    let limit = dp.config.max_request_bytes;
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::new(413, format!("request body is larger than {limit} bytes")).into())
        }
        Err(_) => Err(ApiError::new(400, "the request body could not be read")
            .code("invalid_body")
            .into()),
    }
}

/// The body, read and partially parsed (400 naming the field, 413 past the limit).
pub async fn read_request(
    dp: &DataPlane,
    body: Incoming,
    endpoint: Endpoint,
) -> Result<ParsedRequest, Stop> {
    let raw = read_body(dp, body).await?;
    parse_request(&raw, endpoint, dp.config.default_max_tokens).map_err(|e| {
        let mut err = ApiError::new(400, e.message).code(e.code);
        err.param = e.param;
        err.into()
    })
}

/// Holds `amount` from the user's spend allowance, asking Python for a new allowance when
/// the live one is missing, expired or short. `None` when billing is off.
pub async fn hold_money(
    dp: &Arc<DataPlane>,
    user_id: &Arc<str>,
    amount: u64,
) -> Result<Option<Hold>, Stop> {
    if !dp.config.billing {
        return Ok(None);
    }
    // Concurrent requests may drain a fresh allowance before this one takes from it: ask
    // again a few times, then give up rather than loop.
    for _ in 0..4 {
        let now = Instant::now();
        if let Some(hold) = dp.allowances.try_hold(user_id, amount, now) {
            if hold.lease().claim_renewal(now) {
                let (dp, user) = (Arc::clone(dp), Arc::clone(user_id));
                tokio::spawn(async move {
                    // A grant installs the next allowance and retires this one.
                    let _ = dp.control.allowance(&user, amount).await;
                });
            }
            return Ok(Some(hold));
        }
        match dp.control.allowance(user_id, amount).await {
            Ok(AllowanceAnswer::Granted(lease)) => {
                if let Some(hold) = Allowances::hold_from(&lease, amount) {
                    return Ok(Some(hold));
                }
            }
            Ok(AllowanceAnswer::Refused(r)) => return Err(Stop::Refused(r)),
            Err(u) => return Err(unavailable(u.0, "billing_unavailable").into()),
        }
    }
    Err(unavailable(
        "the spend allowance is contended; retry".into(),
        "billing_busy",
    )
    .into())
}
