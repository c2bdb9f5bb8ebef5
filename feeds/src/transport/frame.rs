//! Websocket framing (RFC 6455) as a client sees it: the headers of the server's frames (never
//! masked) parsed from the front of the read buffer, the client's frames encoded (always
//! masked), and [`InBuf`], the reused buffer frames are read into and parsed in place from.

use crate::transport::backoff::XorShift64;

pub(super) const OP_CONTINUATION: u8 = 0x0;
pub(super) const OP_TEXT: u8 = 0x1;
pub(super) const OP_BINARY: u8 = 0x2;
pub(super) const OP_CLOSE: u8 = 0x8;
pub(super) const OP_PING: u8 = 0x9;
pub(super) const OP_PONG: u8 = 0xA;

/// Longest websocket frame header (2 + 8 bytes of length; servers never mask).
pub(super) const MAX_HEADER: usize = 10;

/// The read buffer: bytes `start..end` of `data` are received and not yet consumed. `data` is
/// always fully initialised (zeroed when grown) so no uninitialised memory is ever exposed.
pub(super) struct InBuf {
    pub(super) data: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) limit: usize,
}

impl InBuf {
    pub(super) fn new(initial: usize, limit: usize) -> InBuf {
        InBuf {
            data: vec![0; initial.clamp(MAX_HEADER + 1, limit.max(MAX_HEADER + 1))],
            start: 0,
            end: 0,
            limit: limit.max(MAX_HEADER + 1),
        }
    }

    pub(super) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    pub(super) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Room to read into, compacting or growing first if the buffer is full.
    pub(super) fn spare(&mut self) -> &mut [u8] {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.compact();
            } else if self.data.len() < self.limit {
                let new_len = (self.data.len() * 2).min(self.limit);
                self.data.resize(new_len, 0);
            }
        }
        &mut self.data[self.end..]
    }

    pub(super) fn compact(&mut self) {
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
    }

    /// Makes sure a frame of `total` bytes starting at `start` will fit once received.
    pub(super) fn make_room(&mut self, total: usize) {
        if self.data.len() - self.start >= total {
            return;
        }
        self.compact();
        if self.data.len() < total {
            self.data
                .resize(total.next_power_of_two().min(self.limit).max(total), 0);
        }
    }
}

/// A frame header parsed from the front of the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FrameHead {
    pub(super) fin: bool,
    pub(super) opcode: u8,
    pub(super) header_len: usize,
    pub(super) payload_len: usize,
}

/// Parses a server-to-client frame header; `Ok(None)` if more bytes are needed.
pub(super) fn parse_head(buf: &[u8], max_payload: usize) -> Result<Option<FrameHead>, String> {
    let (b0, b1) = match buf {
        [b0, b1, ..] => (*b0, *b1),
        _ => return Ok(None),
    };
    if b0 & 0x70 != 0 {
        return Err(format!(
            "frame with reserved bits {:#04x} set (no extension was negotiated)",
            b0 & 0x70
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(format!("frame with unknown opcode {opcode:#x}"));
    }
    if b1 & 0x80 != 0 {
        return Err("masked frame from the server (RFC 6455 5.1 forbids it)".to_string());
    }
    let (payload_len, header_len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut len = [0u8; 8];
                len.copy_from_slice(b);
                (u64::from_be_bytes(len), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode >= OP_CLOSE {
        if !fin {
            return Err(format!("fragmented control frame (opcode {opcode:#x})"));
        }
        if payload_len > 125 {
            return Err(format!("control frame of {payload_len} bytes (max 125)"));
        }
    }
    if payload_len > max_payload as u64 {
        return Err(format!(
            "frame of {payload_len} bytes over the {max_payload}-byte message limit"
        ));
    }
    Ok(Some(FrameHead {
        fin,
        opcode,
        header_len,
        payload_len: payload_len as usize,
    }))
}

/// Appends one masked client frame to `out` (clients must mask, RFC 6455 5.3).
pub(super) fn encode_frame(out: &mut Vec<u8>, rng: &mut XorShift64, opcode: u8, payload: &[u8]) {
    let mask = (rng.next_u64() as u32).to_ne_bytes();
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An unmasked server frame.
    pub(crate) fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xFFFF => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    /// Unmasks client frames from the output buffer: (opcode, payload).
    pub(crate) fn client_frames(mut out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !out.is_empty() {
            assert_eq!(out[0] & 0x80, 0x80, "client frames are final");
            assert_eq!(out[1] & 0x80, 0x80, "client frames are masked");
            let (len, mut at) = match out[1] & 0x7F {
                126 => (u16::from_be_bytes([out[2], out[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            let mask = [out[at], out[at + 1], out[at + 2], out[at + 3]];
            at += 4;
            let payload = out[at..at + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i & 3])
                .collect();
            frames.push((out[0] & 0x0F, payload));
            out = &out[at + len..];
        }
        frames
    }

    #[test]
    fn headers_of_every_length_form_parse() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let f = frame(true, OP_TEXT, &vec![b'x'; len]);
            let h = parse_head(&f, 1 << 20).unwrap().unwrap();
            assert_eq!((h.fin, h.opcode, h.payload_len), (true, OP_TEXT, len));
            assert_eq!(h.header_len + h.payload_len, f.len());
            // Any strict prefix of the header asks for more bytes.
            for cut in 0..h.header_len {
                assert_eq!(parse_head(&f[..cut], 1 << 20), Ok(None));
            }
        }
    }

    #[test]
    fn protocol_violations_are_named() {
        let cases: [(&[u8], &str); 6] = [
            (&[0xC1, 0x00], "reserved bits"),
            (&[0x83, 0x00], "unknown opcode"),
            (&[0x81, 0x80, 0, 0, 0, 0], "masked frame"),
            (&[0x09, 0x00], "fragmented control"),
            (&[0x89, 126, 0, 126], "control frame of 126 bytes"),
            (&[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0], "over the 1024-byte"),
        ];
        for (bytes, expected) in cases {
            let err = parse_head(bytes, 1024).unwrap_err();
            assert!(err.contains(expected), "{bytes:?}: {err}");
        }
    }

    #[test]
    fn client_frames_are_masked_and_length_encoded() {
        let mut rng = XorShift64::new(1);
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, &mut rng, OP_TEXT, &payload);
            assert_eq!(client_frames(&out), vec![(OP_TEXT, payload)]);
        }
    }
}
