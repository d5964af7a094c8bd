//! The text armour shared by licenses and key files:
//!
//! ```text
//! -----BEGIN <LABEL>-----
//! Name: value            (only for blocks with headers, in a fixed order)
//!                        (a blank line, only after headers)
//! <base64, standard alphabet, padded, 64 columns>
//! -----END <LABEL>-----
//! ```
//!
//! Copy and paste may add `\r` before line breaks, and lines of other text before
//! the block or after it. Nothing else is tolerated: a reader accepts exactly
//! one spelling of each block, so any changed byte inside it is noticed, either
//! here or by the signature over the decoded body.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

pub(crate) const COLUMNS: usize = 64;

/// Padding required and spare bits required to be zero, so each byte string has
/// exactly one encoding. The reader also re-encodes and compares, which would
/// catch any leniency left in the engine.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_allow_trailing_bits(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArmourError {
    /// Marker lines, headers or line layout are wrong.
    Layout(String),
    /// The layout is right but the base64 body is not canonical.
    Encoding(String),
}

pub(crate) fn begin_line(label: &str) -> String {
    format!("-----BEGIN {label}-----")
}

pub(crate) fn end_line(label: &str) -> String {
    format!("-----END {label}-----")
}

pub(crate) fn encode(label: &str, headers: &[(&str, &str)], body: &[u8]) -> String {
    let mut out = begin_line(label);
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    for line in wrap(&BASE64.encode(body)) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&end_line(label));
    out.push('\n');
    out
}

/// A decoded block: header values in the order asked for, and the body bytes.
#[derive(Debug)]
pub(crate) struct Block<'a, const N: usize> {
    pub headers: [&'a str; N],
    pub body: Vec<u8>,
}

pub(crate) fn decode<'a, const N: usize>(
    text: &'a str,
    label: &str,
    header_names: [&str; N],
) -> Result<Block<'a, N>, ArmourError> {
    let layout = |msg: String| ArmourError::Layout(msg);
    let begin = begin_line(label);
    let end = end_line(label);
    // Windows Notepad may save with a byte order mark; it cannot come from a
    // single changed byte, so dropping it weakens nothing.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (lines, rest) = split_lines(text);

    let Some(start) = lines.iter().position(|l| *l == begin) else {
        if rest == begin {
            return Err(layout(format!(
                "the {begin} line must end with a line break"
            )));
        }
        return Err(layout(format!("no {begin} line")));
    };
    // Line numbers in messages are 1-based positions in the file.
    let mut at = start + 1;
    let mut next = |what: &str| -> Result<(usize, &'a str), ArmourError> {
        let line = lines
            .get(at)
            .copied()
            .ok_or_else(|| layout(format!("the text ends before {what} (no {end} line)")))?;
        at += 1;
        Ok((at, line))
    };

    let mut headers = [""; N];
    for (slot, name) in headers.iter_mut().zip(header_names) {
        let (n, line) = next(&format!("the {name} header"))?;
        let value = line
            .strip_prefix(name)
            .and_then(|l| l.strip_prefix(": "))
            .ok_or_else(|| layout(format!("line {n} should be the \"{name}: \" header")))?;
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(layout(format!(
                "line {n}: the {name} header value is empty or contains spaces or control characters"
            )));
        }
        *slot = value;
    }
    if N > 0 {
        let (n, line) = next("the blank line after the headers")?;
        if !line.is_empty() {
            return Err(layout(format!(
                "line {n} should be the blank line after the headers"
            )));
        }
    }

    let mut body_lines = Vec::new();
    loop {
        let (n, line) = next(&format!("the {end} line"))?;
        if line == end {
            break;
        }
        if let Some(bad) = line.chars().find(|c| !is_base64_char(*c)) {
            return Err(layout(format!(
                "line {n} has {bad:?}, which cannot appear in the base64 body"
            )));
        }
        body_lines.push(line);
    }
    if !rest.is_empty() {
        return Err(layout(format!(
            "the last line after {end} has no line break; text after the block must be whole lines"
        )));
    }

    let joined: String = body_lines.concat();
    let body = BASE64
        .decode(joined.as_bytes())
        .map_err(|e| ArmourError::Encoding(format!("the body is not valid base64 ({e})")))?;
    let canonical = BASE64.encode(&body);
    if !wrap(&canonical).eq(body_lines.iter().copied()) {
        return Err(ArmourError::Encoding(format!(
            "the base64 body is not wrapped at {COLUMNS} columns"
        )));
    }
    Ok(Block { headers, body })
}

/// Lines terminated by `\n`, each without one trailing `\r`, and the final
/// unterminated segment as it is. A `\r` is only a line ending when a `\n`
/// follows it: otherwise a changed last byte `\n` -> `\r` would go unnoticed.
fn split_lines(text: &str) -> (Vec<&str>, &str) {
    let mut lines: Vec<&str> = text.split('\n').collect();
    let rest = lines.pop().unwrap_or("");
    for line in &mut lines {
        *line = line.strip_suffix('\r').unwrap_or(line);
    }
    (lines, rest)
}

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// Base64 text is ASCII, so splitting at byte offsets stays on char boundaries.
fn wrap(encoded: &str) -> impl Iterator<Item = &str> {
    encoded
        .as_bytes()
        .chunks(COLUMNS)
        .filter_map(|chunk| std::str::from_utf8(chunk).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "TENURE TEST";

    fn decode2(text: &str) -> Result<Block<'_, 2>, ArmourError> {
        decode(text, LABEL, ["A", "B-C"])
    }

    #[test]
    fn round_trip_with_and_without_headers() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 200] {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = encode(LABEL, &[("A", "x"), ("B-C", "y=")], &body);
            let block = decode2(&text).expect("decodes");
            assert_eq!(block.headers, ["x", "y="]);
            assert_eq!(block.body, body);
            assert!(
                text.lines()
                    .all(|l| l.len() <= COLUMNS || l.starts_with("-----"))
            );

            let bare = encode(LABEL, &[], &body);
            assert_eq!(decode(&bare, LABEL, []).expect("decodes").body, body);
        }
    }

    #[test]
    fn refuses_non_canonical_bodies() {
        let good = encode(LABEL, &[], b"ab");
        assert!(good.contains("YWI=\n"));
        // "YWJ=" decodes to "ab" too in lenient decoders: its spare bits are set.
        let spare_bits = good.replace("YWI=", "YWJ=");
        assert!(matches!(
            decode(&spare_bits, LABEL, []),
            Err(ArmourError::Encoding(_))
        ));
        let unpadded = good.replace("YWI=", "YWI");
        assert!(decode(&unpadded, LABEL, []).is_err());

        let long = encode(LABEL, &[], &[7u8; 100]);
        let lines: Vec<&str> = long.lines().collect();
        assert_eq!(lines.len(), 5);
        let one_line = format!("{}\n{}\n{}\n", lines[0], lines[1..4].concat(), lines[4]);
        assert!(matches!(
            decode(&one_line, LABEL, []),
            Err(ArmourError::Encoding(_))
        ));
        let short_first = format!(
            "{}\n{}\n{}{}\n{}\n{}\n",
            lines[0],
            &lines[1][..60],
            &lines[1][60..],
            lines[2],
            lines[3],
            lines[4]
        );
        assert!(decode(&short_first, LABEL, []).is_err());
    }

    #[test]
    fn tolerates_crlf_bom_and_surrounding_lines() {
        let text = encode(LABEL, &[("A", "x"), ("B-C", "y")], b"hello");
        let crlf = text.replace('\n', "\r\n");
        assert!(decode2(&crlf).is_ok());
        assert!(decode2(&format!("\u{feff}{text}")).is_ok());
        assert!(decode2(&format!("Dear customer,\n\n{text}\nRegards\n")).is_ok());
        assert!(decode2(&format!("{text}Regards")).is_err());
        assert!(decode2(&format!("x{text}")).is_err());
        assert!(decode2(text.trim_end()).is_err());
        assert!(decode2(&format!("{}\r", text.trim_end())).is_err());
    }

    #[test]
    fn refuses_wrong_headers() {
        let text = encode(LABEL, &[("A", "x"), ("B-C", "y")], b"hello");
        assert!(decode2(&text.replace("A: x", "A:x")).is_err());
        assert!(decode2(&text.replace("A: x", "A: x ")).is_err());
        assert!(decode2(&text.replace("A: x", "a: x")).is_err());
        assert!(decode2(&text.replace("B-C: y\n\n", "B-C: y\n")).is_err());
        assert!(decode(&text, LABEL, ["A"]).is_err());
        assert!(decode(&text, LABEL, []).is_err());
    }
}
