//! Pieces of the `__repr__` strings, spelled as Python spells them.

/// `True` / `False`.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The number, or `None`.
pub(crate) fn py_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "None".to_owned(), |v| v.to_string())
}
