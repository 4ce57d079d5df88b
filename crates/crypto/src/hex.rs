//! Fixed-size hexadecimal encoding for the crate's public identifiers.
//!
//! Storage keys, subject tags and session references are written in lowercase
//! and parsed strictly (one text form per value, so they can be compared and
//! used as file names as strings). API token hashes come from operators who
//! may paste either case, so their parser can opt into accepting uppercase.

const LOWER: &[u8; 16] = b"0123456789abcdef";

/// Which letter case a parser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Only `0-9a-f`.
    LowerOnly,
    /// `0-9a-f` and `A-F`.
    Either,
}

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexError {
    WrongLength,
    BadCharacter,
}

impl HexError {
    pub(crate) const fn reason(self, case: Case) -> &'static str {
        match (self, case) {
            (Self::WrongLength, _) => "wrong length",
            (Self::BadCharacter, Case::LowerOnly) => "contains a character other than 0-9 and a-f",
            (Self::BadCharacter, Case::Either) => {
                "contains a character other than 0-9, a-f and A-F"
            }
        }
    }
}

/// Appends the lowercase hex form of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(LOWER[usize::from(b >> 4)]));
        out.push(char::from(LOWER[usize::from(b & 0x0f)]));
    }
}

/// The lowercase hex form of `bytes`: the one hex encoder of the
/// workspace (storage keys, subject hashes, script digests, file names).
///
/// ```
/// assert_eq!(tessera_crypto::to_hex(&[0x0f, 0xa0]), "0fa0");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut out);
    out
}

/// Decodes exactly `2 * N` hex characters into `N` bytes.
pub(crate) fn decode<const N: usize>(text: &str, case: Case) -> Result<[u8; N], HexError> {
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return Err(HexError::WrongLength);
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = nibble(pair[0], case).ok_or(HexError::BadCharacter)?;
        let lo = nibble(pair[1], case).ok_or(HexError::BadCharacter)?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn nibble(c: u8, case: Case) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if case == Case::Either => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = [0x00, 0x01, 0x7f, 0x80, 0xab, 0xff];
        let text = encode(&bytes);
        assert_eq!(text, "00017f80abff");
        assert_eq!(decode::<6>(&text, Case::LowerOnly), Ok(bytes));
    }

    #[test]
    fn strictness() {
        assert_eq!(
            decode::<1>("AB", Case::LowerOnly),
            Err(HexError::BadCharacter)
        );
        assert_eq!(decode::<1>("AB", Case::Either), Ok([0xab]));
        assert_eq!(decode::<1>("abc", Case::Either), Err(HexError::WrongLength));
        assert_eq!(decode::<1>("g0", Case::Either), Err(HexError::BadCharacter));
        assert_eq!(decode::<1>("+1", Case::Either), Err(HexError::BadCharacter));
        // Two bytes of one multi-byte character: the length matches, the alphabet does not.
        assert_eq!(decode::<1>("é", Case::Either), Err(HexError::BadCharacter));
    }
}
