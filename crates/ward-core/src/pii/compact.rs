//! A candidate's compact form (its letters and digits with the separators
//! left out, or the sizes of its digit groups) kept on the stack: the
//! recognizers build one at every candidate, most of which fail, so none
//! of them allocates.

/// Up to `N` ASCII bytes.
#[derive(Clone, Copy)]
pub(super) struct Compact<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Compact<N> {
    pub(super) fn new() -> Self {
        Compact { bytes: [0; N], len: 0 }
    }

    /// Appends `c` unless full; says whether it did. Only ASCII goes in
    /// (`as_str` relies on it), which the callers guarantee: they copy
    /// ASCII letters and digits, or group sizes below 128.
    pub(super) fn push(&mut self, c: u8) -> bool {
        debug_assert!(c.is_ascii());
        match self.bytes.get_mut(self.len) {
            Some(slot) if c.is_ascii() => {
                *slot = c;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    /// Adds one to the last byte, a group size (kept at most 127).
    pub(super) fn bump_last(&mut self) {
        if let Some(last) = self.bytes[..self.len].last_mut() {
            *last = (*last + 1).min(127);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub(super) fn to_ascii_uppercase(mut self) -> Self {
        self.bytes[..self.len].make_ascii_uppercase();
        self
    }
}

/// Group sizes never compare with anything above 16; a longer group is
/// kept as 127 so that sizes stay ASCII.
pub(super) fn group_size(n: usize) -> u8 {
    n.min(127) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_capacity_and_keeps_ascii() {
        let mut c = Compact::<3>::new();
        assert!(c.push(b'a') && c.push(b'1') && c.push(b'Z'));
        assert!(!c.push(b'x'), "full");
        assert_eq!(c.as_str(), "a1Z");
        assert_eq!(c.to_ascii_uppercase().as_str(), "A1Z");
        assert_eq!(c.len(), 3);
        let mut sizes = Compact::<2>::new();
        sizes.bump_last();
        assert!(sizes.as_bytes().is_empty(), "nothing to bump");
        sizes.push(126);
        sizes.bump_last();
        sizes.bump_last();
        assert_eq!(sizes.as_bytes(), [127]);
        assert_eq!(group_size(3), 3);
        assert_eq!(group_size(1000), 127);
    }
}
