//! Phase 1 (early): which route a request is, and its request id.

use http::{HeaderMap, Method};

use super::openai_request::Endpoint;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HotRoute {
    Inference(Endpoint),
    ListModels,
    GetModel(String),
}

/// The hot route for `path`, or `None` (the control plane serves it). CORS preflights go
/// to the control plane, which owns the CORS policy; a browser's actual request (with
/// `Origin`) is served here like any other: the policy allows no cross-origin reads, so
/// the control plane would add no CORS headers to it either. Only reads of the model list
/// are hot: writes under `/api/v1/models/...` (the model catalog's upload and predict)
/// belong to the control plane.
pub fn classify(method: &Method, path: &str) -> Option<HotRoute> {
    if method == Method::OPTIONS {
        return None;
    }
    let rest = path
        .strip_prefix("/api")
        .unwrap_or(path)
        .strip_prefix("/v1/")?;
    match rest {
        "chat/completions" => Some(HotRoute::Inference(Endpoint::Chat)),
        "completions" => Some(HotRoute::Inference(Endpoint::Completions)),
        "embeddings" => Some(HotRoute::Inference(Endpoint::Embeddings)),
        _ if method != Method::GET && method != Method::HEAD && rest.starts_with("models") => None,
        "models" => Some(HotRoute::ListModels),
        _ => {
            let id = rest.strip_prefix("models/")?.trim_start_matches('/');
            (!id.is_empty()).then(|| HotRoute::GetModel(percent_decode(id)))
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A W3C `traceparent` worth keeping: `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero.
pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?;
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    ok.then(|| v.to_owned())
}

/// The caller's `X-Request-ID` when short and printable (`[A-Za-z0-9._:-]{1,128}`), else new.
pub fn request_id(headers: &HeaderMap) -> String {
    if let Some(v) = headers.get("x-request-id") {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(c))
        {
            return String::from_utf8_lossy(b).into_owned();
        }
    }
    format!("{:032x}", fastrand::u128(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_twins() {
        assert_eq!(
            classify(&Method::POST, "/v1/chat/completions"),
            Some(HotRoute::Inference(Endpoint::Chat))
        );
        assert_eq!(
            classify(&Method::POST, "/api/v1/embeddings"),
            Some(HotRoute::Inference(Endpoint::Embeddings))
        );
        assert_eq!(
            classify(&Method::GET, "/v1/models"),
            Some(HotRoute::ListModels)
        );
        assert_eq!(
            classify(&Method::GET, "/v1/models/org/m%201"),
            Some(HotRoute::GetModel("org/m 1".into()))
        );
        assert_eq!(classify(&Method::GET, "/v1/models/"), None);
        assert_eq!(classify(&Method::GET, "/health"), None);
        assert_eq!(classify(&Method::OPTIONS, "/v1/models"), None);
        // The model catalog's writes go to the control plane.
        assert_eq!(classify(&Method::POST, "/api/v1/models/upload"), None);
        assert_eq!(classify(&Method::POST, "/api/v1/models/m1/predict"), None);
        assert_eq!(classify(&Method::DELETE, "/api/v1/models/m1"), None);
        assert_eq!(
            classify(&Method::HEAD, "/api/v1/models/m1"),
            Some(HotRoute::GetModel("m1".into()))
        );
        assert_eq!(
            classify(&Method::POST, "/v1/completions"),
            Some(HotRoute::Inference(Endpoint::Completions))
        );
    }

    #[test]
    fn traceparents() {
        let mut h = HeaderMap::new();
        assert_eq!(traceparent(&h), None);
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert("traceparent", good.parse().unwrap());
        assert_eq!(traceparent(&h).as_deref(), Some(good));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            h.insert("traceparent", bad.parse().unwrap());
            assert_eq!(traceparent(&h), None, "{bad}");
        }
    }

    #[test]
    fn request_ids() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", "abc-1.2:3".parse().unwrap());
        assert_eq!(request_id(&h), "abc-1.2:3");
        h.insert("x-request-id", "bad id".parse().unwrap());
        assert_eq!(request_id(&h).len(), 32);
    }
}
