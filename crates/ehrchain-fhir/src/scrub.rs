//! Identifying strings out of, and back into, a resource. Each occurrence of a known
//! identifying string (a name part, an identifier, a phone number, an address line, the exact
//! birth date) in any string of a resource, including text attachments (`data` with a `text/*`
//! content type, base64), becomes a placeholder `⟦pii:N⟧`, where N indexes the patient's token
//! table kept in the persona store. Restoring replaces each placeholder with its string, so an
//! export is exactly the import.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;

/// Placeholders open with this; an input that already contains it is refused at import.
pub const OPEN: &str = "⟦pii:";
const CLOSE: char = '⟧';

/// A token table ready for matching: longest tokens first, so a full name wins over its parts.
pub struct Matcher<'a> {
    by_len: Vec<(usize, &'a str)>,
    first_bytes: [bool; 256],
}

impl<'a> Matcher<'a> {
    pub fn new(tokens: &'a [String]) -> Self {
        let mut by_len: Vec<(usize, &str)> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, t)| (i, t.as_str()))
            .collect();
        by_len.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut first_bytes = [false; 256];
        for (_, t) in &by_len {
            first_bytes[t.as_bytes()[0] as usize] = true;
        }
        Matcher {
            by_len,
            first_bytes,
        }
    }

    /// `s` with every token occurrence replaced, or `None` if nothing matched.
    pub fn scrub(&self, s: &str) -> Option<String> {
        let bytes = s.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < bytes.len() {
            if self.first_bytes[bytes[i] as usize] && s.is_char_boundary(i) {
                let hit = self
                    .by_len
                    .iter()
                    .find(|(_, t)| s[i..].starts_with(t) && bounded(&s[..i], t, &s[i + t.len()..]));
                if let Some((index, t)) = hit {
                    let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                    o.push_str(&s[copied..i]);
                    o.push_str(&format!("{OPEN}{index}{CLOSE}"));
                    i += t.len();
                    copied = i;
                    continue;
                }
            }
            i += 1;
        }
        out.map(|mut o| {
            o.push_str(&s[copied..]);
            o
        })
    }

    /// Scrubs every string in `v`, and text attachments inside their base64.
    pub fn scrub_value(&self, v: &mut Value) {
        walk(v, &mut |s| self.scrub(s), true);
    }
}

/// A token matches only as a whole word: a token starting with a letter may not follow a letter
/// or digit, one starting with a digit may not follow a digit (so `2011-09-02` matches inside
/// `2011-09-02T12:48:59Z`, and `Ann` does not match inside `Joanne`). Likewise at its end.
fn bounded(before: &str, token: &str, after: &str) -> bool {
    let clash = |edge: Option<char>, neighbour: Option<char>| match (edge, neighbour) {
        (Some(e), Some(n)) if e.is_ascii_digit() => n.is_ascii_digit(),
        (Some(e), Some(n)) if e.is_alphanumeric() => n.is_alphanumeric(),
        _ => false,
    };
    !clash(token.chars().next(), before.chars().next_back())
        && !clash(token.chars().next_back(), after.chars().next())
}

/// `s` with each `⟦pii:N⟧` replaced by `tokens[N]`, or `None` if it has no placeholder.
pub fn restore_str(s: &str, tokens: &[String]) -> Option<String> {
    if !s.contains(OPEN) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let token = after.find(CLOSE).and_then(|end| {
            let n: usize = after[..end].parse().ok()?;
            Some((tokens.get(n)?, end))
        });
        match token {
            Some((t, end)) => {
                out.push_str(t);
                rest = &after[end + CLOSE.len_utf8()..];
            }
            None => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Restores every placeholder in `v`, including inside text attachments.
pub fn restore_value(v: &mut Value, tokens: &[String]) {
    walk(v, &mut |s| restore_str(s, tokens), true);
}

/// True if any string in `v` (or a text attachment in it) contains `needle`.
pub fn contains(v: &Value, needle: &str) -> bool {
    let mut found = false;
    let mut probe = v.clone();
    walk(
        &mut probe,
        &mut |s| {
            found |= s.contains(needle);
            None
        },
        true,
    );
    found
}

/// Applies `f` to every string value (not keys) in `v`; with `attachments`, also to the decoded
/// text of base64 `data` beside a textual `contentType`, re-encoding it if `f` changed it.
fn walk(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>, attachments: bool) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, f, attachments)),
        Value::Object(map) => {
            let textual = attachments
                && map
                    .get("contentType")
                    .and_then(Value::as_str)
                    .is_some_and(is_textual);
            for (k, child) in map.iter_mut() {
                if textual && k == "data" {
                    if let Value::String(b64) = child {
                        if let Some(new) = attachment(b64, f) {
                            *b64 = new;
                        }
                        continue;
                    }
                }
                walk(child, f, attachments);
            }
        }
        _ => {}
    }
}

fn is_textual(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/") || ct.contains("json") || ct.contains("xml")
}

fn attachment(b64: &str, f: &mut dyn FnMut(&str) -> Option<String>) -> Option<String> {
    let bytes = B64.decode(b64).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let new = f(&text)?;
    let encoded = B64.encode(new.as_bytes());
    Some(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Vec<String> {
        ["Ann", "Ann Lee", "2011-09-02", "555-146-1616"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn whole_words_only_and_restore_is_exact() {
        let t = tokens();
        let m = Matcher::new(&t);
        for (input, scrubbed) in [
            ("Ann Lee came in", Some("⟦pii:1⟧ came in")),
            ("Ann came", Some("⟦pii:0⟧ came")),
            ("Joanne came", None),
            ("Annual review", None),
            ("2011-09-02T12:48:59Z", Some("⟦pii:2⟧T12:48:59Z")),
            ("12011-09-02", None),
            ("call 555-146-1616.", Some("call ⟦pii:3⟧.")),
        ] {
            let got = m.scrub(input);
            assert_eq!(got.as_deref(), scrubbed, "{input}");
            if let Some(g) = got {
                assert_eq!(restore_str(&g, &t).as_deref(), Some(input));
            }
        }
    }

    #[test]
    fn text_attachments_are_scrubbed_inside_their_base64() {
        let t = tokens();
        let note = B64.encode("Ann is a newborn.");
        let mut v = serde_json::json!({"attachment": {"contentType": "text/plain; charset=utf-8", "data": note}});
        let original = v.clone();
        Matcher::new(&t).scrub_value(&mut v);
        assert_ne!(v, original);
        assert!(!contains(&v, "Ann"));
        restore_value(&mut v, &t);
        assert_eq!(v, original);
    }
}
