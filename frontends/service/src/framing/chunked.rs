//! Where a chunked body ends (RFC 9112 section 7.1), so the gate hands a
//! library exactly one message. The grammar is hyper's: hex size, optional
//! blanks, extensions up to CR (no bare LF), CRLF everywhere, trailers until
//! an empty line. A body that breaks it is an error for the reader.

use super::{MAX_HEAD_BYTES, MAX_HEADERS};

/// Chunk extensions a body may carry in all (hyper's limit).
const MAX_EXTENSION_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first hex digit of a size.
    Start,
    Size,
    /// Blanks after the size.
    SizeBlank,
    Extension,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk's size line: CR ends, anything else is a trailer.
    EndCr,
    Trailer,
    TrailerLf,
    EndLf,
    Done,
}

#[derive(Debug, Clone)]
pub struct Chunked {
    state: State,
    size: u64,
    extension_bytes: usize,
    trailer_bytes: usize,
    trailers: usize,
}

impl Chunked {
    pub fn new() -> Self {
        Self {
            state: State::Start,
            size: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
            trailers: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads body bytes from `input` up to the end of the body and returns
    /// how many it consumed. `raw` appends exactly those bytes to `out`;
    /// otherwise `out` gets the same body re-encoded in the plainest form
    /// (`{size:x}\r\n`, data, `\r\n`, and `0\r\n\r\n` without trailers).
    pub fn feed(
        &mut self,
        input: &[u8],
        raw: bool,
        out: &mut Vec<u8>,
    ) -> Result<usize, &'static str> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if let State::Data(left) = self.state {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                out.extend_from_slice(&input[i..i + n]);
                i += n;
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b, raw, out)?;
            if raw {
                out.push(b);
            }
        }
        Ok(i)
    }

    fn digit(&mut self, b: u8) -> Result<bool, &'static str> {
        let Some(d) = (b as char).to_digit(16) else {
            return Ok(false);
        };
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or("chunk size overflows")?;
        Ok(true)
    }

    fn step(&mut self, b: u8, raw: bool, out: &mut Vec<u8>) -> Result<State, &'static str> {
        use State::*;
        Ok(match (self.state, b) {
            (Start, _) => {
                self.size = 0;
                if !self.digit(b)? {
                    return Err("chunk size missing");
                }
                Size
            }
            (Size, b'\t' | b' ') | (SizeBlank, b'\t' | b' ') => SizeBlank,
            (Size | SizeBlank, b';') => Extension,
            (Size | SizeBlank | Extension, b'\r') => SizeLf,
            (Size, _) => {
                if !self.digit(b)? {
                    return Err("invalid chunk size");
                }
                Size
            }
            (SizeBlank, _) => return Err("invalid blank after a chunk size"),
            (Extension, b'\n') => return Err("chunk extension holds a newline"),
            (Extension, _) => {
                self.extension_bytes += 1;
                if self.extension_bytes >= MAX_EXTENSION_BYTES {
                    return Err("chunk extensions too long");
                }
                Extension
            }
            (SizeLf, b'\n') if self.size == 0 => EndCr,
            (SizeLf, b'\n') => {
                if !raw {
                    out.extend_from_slice(format!("{:x}\r\n", self.size).as_bytes());
                }
                Data(self.size)
            }
            (SizeLf, _) => return Err("chunk size line without LF"),
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err("chunk data longer than its size"),
            (DataLf, b'\n') => {
                if !raw {
                    out.extend_from_slice(b"\r\n");
                }
                Start
            }
            (DataLf, _) => return Err("chunk data without CRLF"),
            (EndCr, b'\r') => EndLf,
            (EndCr | Trailer, _) => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_HEAD_BYTES {
                    return Err("chunk trailers too large");
                }
                if b == b'\r' { TrailerLf } else { Trailer }
            }
            (TrailerLf, b'\n') => {
                self.trailers += 1;
                if self.trailers > MAX_HEADERS {
                    return Err("too many chunk trailers");
                }
                EndCr
            }
            (TrailerLf, _) => return Err("chunk trailer without LF"),
            (EndLf, b'\n') => {
                if !raw {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                Done
            }
            (EndLf, _) => return Err("chunked body without final CRLF"),
            (Data(_) | Done, _) => self.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &[u8], raw: bool, step: usize) -> Result<(usize, Vec<u8>, bool), &'static str> {
        let mut c = Chunked::new();
        let mut out = Vec::new();
        let mut used = 0;
        for piece in body.chunks(step) {
            used += c.feed(piece, raw, &mut out)?;
            if c.is_done() {
                break;
            }
        }
        Ok((used, out, c.is_done()))
    }

    #[test]
    fn ends_exactly_where_the_body_ends() {
        let body = b"5;name=v\r\nhello\r\n1 \r\n!\r\n0\r\nX-T: 1\r\n\r\nGET /next";
        for step in [1, 3, body.len()] {
            let (used, out, done) = run(body, true, step).expect("valid");
            assert!(done);
            assert_eq!(&body[..used], &body[..body.len() - 9], "step {step}");
            assert_eq!(out, &body[..used]);
            let (_, plain, _) = run(body, false, step).expect("valid");
            assert_eq!(plain, b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n");
        }
    }

    #[test]
    fn empty_body_and_large_sizes() {
        let (used, plain, done) = run(b"0\r\n\r\n", false, 1).expect("valid");
        assert!(done);
        assert_eq!(used, 5);
        assert_eq!(plain, b"0\r\n\r\n");
        let (_, plain, done) = run(b"A\r\n0123456789\r\n0\r\n\r\n", false, 4).expect("valid");
        assert!(done);
        assert_eq!(plain, b"a\r\n0123456789\r\n0\r\n\r\n");
    }

    #[test]
    fn broken_bodies_are_errors() {
        for bad in [
            &b"\r\n"[..],
            b"x\r\n",
            b"5\nhello\r\n",
            b"5\r\nhelloX\r\n",
            b"5 5\r\n",
            b"5;a\nb\r\n",
            b"11111111111111111\r\n",
            b"0\r\nX\rY",
            b"0\r\n\rX",
        ] {
            assert!(
                run(bad, true, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
