//! A hash for names and settings that must give the same value on every machine and in every version
//! (std's hashers are randomly keyed per process).

/// FNV-1a.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_fnv1a() {
        // FNV-1a's published test vector for "a".
        assert_eq!(super::stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
