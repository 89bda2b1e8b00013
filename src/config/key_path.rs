//! TOML text to `Raw*` structs, with serde's error span mapped back to a key path such as `port[1].mtu`.

use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{ConfigError, RawConfig};

pub(super) fn parse_raw(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let err = match toml::from_str::<RawConfig>(text) {
        Ok(raw) => return Ok(raw),
        Err(e) => e,
    };
    let message = err.message().trim().replace('\n', "; ");
    let at = err.span().map(|s| s.start.min(text.len()));
    let position = at.map(|at| {
        let (line, column) = line_column(text, at);
        format!("line {line}, column {column}")
    });
    // Any valid TOML deserializes into a `Table`: if that fails too, it is a syntax error.
    if toml::from_str::<toml::Table>(text).is_err() {
        return Err(ConfigError {
            file: file.to_string(),
            key: position.unwrap_or_default(),
            message,
        });
    }
    // A schema error (unknown key, wrong type): name the key at the error's position.
    let path = at.and_then(|at| key_path(text, at));
    let (key, message) = match (path, position) {
        (Some(path), Some(position)) => (path, format!("{message} ({position})")),
        (None, Some(position)) => (position, message),
        (_, None) => (String::new(), message),
    };
    Err(ConfigError {
        file: file.to_string(),
        key,
        message,
    })
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(super) fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The shape of a TOML document with the span of every key and value, used to turn an
/// error's byte offset into a key path.
#[derive(Debug)]
pub(super) enum Node {
    Table(Vec<(toml::Spanned<String>, toml::Spanned<Node>)>),
    Array(Vec<toml::Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Table(entries))
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// The path (`port[1].mtu`) of the innermost key or value at byte offset `at`, if the
/// document can be mapped (it cannot when it holds datetimes, which no key accepts).
pub(super) fn key_path(text: &str, at: usize) -> Option<String> {
    let root = toml::from_str::<toml::Spanned<Node>>(text).ok()?;
    let mut path = String::new();
    let mut node = root.get_ref();
    let inside = |span: std::ops::Range<usize>| span.start <= at && at < span.end;
    'descend: loop {
        match node {
            Node::Table(entries) => {
                for (k, v) in entries {
                    let on_key = inside(k.span());
                    if on_key || inside(v.span()) {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(&quote_key(k.get_ref()));
                        if on_key {
                            break 'descend;
                        }
                        node = v.get_ref();
                        continue 'descend;
                    }
                }
                break;
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if inside(item.span()) {
                        path.push_str(&format!("[{i}]"));
                        node = item.get_ref();
                        continue 'descend;
                    }
                }
                break;
            }
            Node::Leaf => break,
        }
    }
    (!path.is_empty()).then_some(path)
}

pub(super) fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}
