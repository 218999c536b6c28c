//! Converting Python arguments into a [`ForwardRequest`].

use bytes::Bytes;
use gpuproxy_core::forward::{ForwardRequest, RequestBody};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

/// The bytes of a `bytes` or `str` header name/value.
fn header_part<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(std::borrow::Cow::Borrowed(b.as_bytes()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(std::borrow::Cow::Owned(s.to_str()?.as_bytes().to_vec()))
    } else {
        Err(PyTypeError::new_err(format!(
            "header {what} must be bytes or str"
        )))
    }
}

/// ASGI-style headers: an iterable of (name, value) pairs of bytes or str.
pub(crate) fn headers(obj: &Bound<'_, PyAny>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for item in obj.try_iter()? {
        let item = item?;
        let (name, value) = if let Ok(t) = item.cast::<PyTuple>() {
            (t.get_item(0)?, t.get_item(1)?)
        } else if let Ok(l) = item.cast::<PyList>() {
            (l.get_item(0)?, l.get_item(1)?)
        } else {
            (item.get_item(0)?, item.get_item(1)?)
        };
        let name = header_part(&name, "name")?;
        let value = header_part(&value, "value")?;
        let name = HeaderName::from_bytes(&name).map_err(|_| {
            PyValueError::new_err(format!(
                "invalid header name {:?}",
                String::from_utf8_lossy(&name)
            ))
        })?;
        let value = HeaderValue::from_bytes(&value)
            .map_err(|_| PyValueError::new_err(format!("invalid value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// True for an object to stream the request body from (`async for`).
pub(crate) fn is_async_iterable(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyBytes>() || obj.is_none() {
        return Ok(false);
    }
    obj.hasattr(intern!(obj.py(), "__aiter__"))
}

/// An in-memory body: `None`, `bytes`, `bytearray` or `memoryview`.
pub(crate) fn body(obj: Option<&Bound<'_, PyAny>>) -> PyResult<RequestBody> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(RequestBody::Empty);
    };
    if let Ok(b) = obj.cast::<PyBytes>() {
        let bytes = b.as_bytes();
        return Ok(if bytes.is_empty() {
            RequestBody::Empty
        } else {
            RequestBody::Full(Bytes::copy_from_slice(bytes))
        });
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(RequestBody::Full(Bytes::from(b.to_vec())));
    }
    if obj.hasattr(intern!(obj.py(), "tobytes"))? {
        let b = obj.call_method0(intern!(obj.py(), "tobytes"))?;
        return body(Some(&b));
    }
    Err(PyTypeError::new_err(
        "body must be bytes, bytearray, memoryview, an async iterable of bytes, or None",
    ))
}

pub(crate) fn affinity_key(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes().to_vec())
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(s.to_str()?.as_bytes().to_vec())
    } else {
        Err(PyTypeError::new_err("affinity_key must be bytes or str"))
    }
}

pub(crate) fn build(
    method: &str,
    path_and_query: &str,
    headers_obj: &Bound<'_, PyAny>,
    body: RequestBody,
    client_ip: Option<&str>,
    request_id: Option<&str>,
) -> PyResult<ForwardRequest> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))?;
    if !path_and_query.starts_with('/') {
        return Err(PyValueError::new_err(format!(
            "path_and_query must start with '/', got {path_and_query:?}"
        )));
    }
    let mut req = ForwardRequest::new(method, path_and_query);
    req.headers = headers(headers_obj)?;
    req.body = body;
    req.client_ip = client_ip.map(str::to_owned);
    req.request_id = request_id.map(str::to_owned);
    Ok(req)
}
