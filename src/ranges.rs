//! A set of numbers kept as disjoint, non-adjacent inclusive ranges: which
//! numbers a run has finished. Chunks finish roughly in order, so the set
//! stays a handful of ranges however long the run.

use std::collections::BTreeMap;

/// Disjoint inclusive ranges, merged on insert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// lo → hi, no two overlapping or adjacent.
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// The set of the given ranges (which may overlap or touch).
    pub fn from_ranges(ranges: &[(u64, u64)]) -> RangeSet {
        let mut set = RangeSet::default();
        for &(lo, hi) in ranges {
            set.insert(lo, hi);
        }
        set
    }

    /// Adds `[lo, hi]`, merging it with the ranges it overlaps or touches.
    pub fn insert(&mut self, mut lo: u64, mut hi: u64) {
        assert!(lo <= hi);
        // A range starting at or before lo that reaches lo - 1 or beyond.
        if let Some((&l, &h)) = self.ranges.range(..=lo).next_back()
            && h.saturating_add(1) >= lo
        {
            lo = l;
            hi = hi.max(h);
            self.ranges.remove(&l);
        }
        // Ranges starting inside [lo, hi + 1].
        while let Some((&l, &h)) = self.ranges.range(lo..=hi.saturating_add(1)).next() {
            hi = hi.max(h);
            self.ranges.remove(&l);
        }
        self.ranges.insert(lo, hi);
    }

    /// Takes `[lo, hi]` out of the set, splitting the ranges it cuts.
    pub fn remove(&mut self, lo: u64, hi: u64) {
        assert!(lo <= hi);
        // A range starting before lo that reaches into [lo, hi]: keep its
        // part below lo (and above hi, if it reaches past).
        if let Some((&l, &h)) = self.ranges.range(..lo).next_back()
            && h >= lo
        {
            self.ranges.insert(l, lo - 1);
            if h > hi {
                self.ranges.insert(hi + 1, h);
            }
        }
        // Ranges starting inside [lo, hi]: keep their part above hi.
        while let Some((&l, &h)) = self.ranges.range(lo..=hi).next() {
            self.ranges.remove(&l);
            if h > hi {
                self.ranges.insert(hi + 1, h);
            }
        }
    }

    /// The range holding `n`, if any.
    pub fn containing(&self, n: u64) -> Option<(u64, u64)> {
        let (&lo, &hi) = self.ranges.range(..=n).next_back()?;
        (n <= hi).then_some((lo, hi))
    }

    /// The first range starting after `n`, if any.
    pub fn next_after(&self, n: u64) -> Option<(u64, u64)> {
        let (&lo, &hi) = self.ranges.range(n.saturating_add(1)..).next()?;
        Some((lo, hi))
    }

    /// How many numbers the set holds.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|(&lo, &hi)| hi - lo + 1).sum()
    }

    /// The ranges, ascending.
    pub fn to_vec(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|(&lo, &hi)| (lo, hi)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_cuts_and_splits() {
        let mut set = RangeSet::from_ranges(&[(1, 10), (20, 30), (40, 50)]);
        set.remove(5, 6);
        assert_eq!(set.to_vec(), [(1, 4), (7, 10), (20, 30), (40, 50)]);
        set.remove(9, 45);
        assert_eq!(set.to_vec(), [(1, 4), (7, 8), (46, 50)]);
        set.remove(1, 4);
        set.remove(46, 50);
        set.remove(100, 200);
        assert_eq!(set.to_vec(), [(7, 8)]);
        set.remove(7, 8);
        assert_eq!(set.count(), 0);
        // Removing what was inserted leaves what was there before.
        let mut set = RangeSet::from_ranges(&[(1, 100)]);
        set.insert(101, 200);
        set.remove(101, 200);
        assert_eq!(set.to_vec(), [(1, 100)]);
    }

    #[test]
    fn merges_overlapping_and_adjacent_ranges() {
        let mut s = RangeSet::default();
        s.insert(10, 20);
        s.insert(30, 40);
        assert_eq!(s.to_vec(), vec![(10, 20), (30, 40)]);
        s.insert(21, 29);
        assert_eq!(s.to_vec(), vec![(10, 40)]);
        s.insert(5, 9);
        s.insert(41, 41);
        assert_eq!(s.to_vec(), vec![(5, 41)]);
        s.insert(1, 100);
        assert_eq!(s.to_vec(), vec![(1, 100)]);
        assert_eq!(s.count(), 100);
        s.insert(200, 300);
        s.insert(150, 250);
        assert_eq!(s.to_vec(), vec![(1, 100), (150, 300)]);
    }

    #[test]
    fn lookups() {
        let s = RangeSet::from_ranges(&[(10, 20), (30, 40)]);
        assert_eq!(s.containing(10), Some((10, 20)));
        assert_eq!(s.containing(20), Some((10, 20)));
        assert_eq!(s.containing(25), None);
        assert_eq!(s.containing(5), None);
        assert_eq!(s.next_after(20), Some((30, 40)));
        assert_eq!(s.next_after(5), Some((10, 20)));
        assert_eq!(s.next_after(30), None);
    }

    #[test]
    fn agrees_with_a_bitmap() {
        let mut x: u64 = 7;
        let mut s = RangeSet::default();
        let mut bits = [false; 200];
        for _ in 0..500 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let lo = (x >> 33) % 200;
            let hi = (lo + (x >> 20) % 7).min(199);
            s.insert(lo, hi);
            for b in &mut bits[lo as usize..=hi as usize] {
                *b = true;
            }
            let v = s.to_vec();
            assert!(v.windows(2).all(|w| w[0].1 + 1 < w[1].0), "{v:?}");
            for (n, &b) in bits.iter().enumerate() {
                assert_eq!(s.containing(n as u64).is_some(), b);
            }
        }
    }
}
