//! Packed SFT: which examples share a row. Short conversations padded to the longest of their
//! micro-batch waste most of a step on padding; packing fills each row of `width` positions with
//! several of them instead (the model keeps each apart: layers::Packing).
//!
//! The rows are planned once, when the data is opened, by best-fit decreasing: the longest example
//! first, each into the fullest row that still has room. The plan depends only on the examples, so a
//! resumed run finds the same rows, and the sampler shuffles rows as it shuffles unpacked examples.

use std::collections::BTreeMap;

/// Examples (index, positions) grouped into rows of at most `width` positions; an example longer than
/// `width` gets a row of its own (the batch cuts it to `width`, as unpacked batches do).
pub fn plan_rows(examples: &[(u64, usize)], width: usize) -> Vec<Vec<u64>> {
    let mut order: Vec<&(u64, usize)> = examples.iter().collect();
    // Longest first; ties in index order, so the plan is the same on every run.
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut rows: Vec<Vec<u64>> = Vec::new();
    // Rows by free positions; each list in the order the rows were opened.
    let mut by_free: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &&(index, len) in &order {
        let len = len.min(width);
        let fits = by_free.range(len..).next().map(|(&free, rows)| (free, rows[0]));
        let (row, free) = match fits {
            Some((free, row)) => {
                let list = by_free.get_mut(&free).expect("the entry just found");
                list.remove(0);
                if list.is_empty() {
                    by_free.remove(&free);
                }
                (row, free)
            }
            None => {
                rows.push(Vec::new());
                (rows.len() - 1, width)
            }
        };
        rows[row].push(index);
        let left = free - len;
        if left > 0 {
            let list = by_free.entry(left).or_default();
            let at = list.partition_point(|&r| r < row);
            list.insert(at, row);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_filled_best_fit_longest_first() {
        // Lengths 6, 5, 4, 3, 2, 2 into rows of 8: 6+2, 5+3, 4+2.
        let examples = [(0, 2), (1, 6), (2, 3), (3, 4), (4, 5), (5, 2)];
        assert_eq!(plan_rows(&examples, 8), [vec![1, 0], vec![4, 2], vec![3, 5]]);
    }

    #[test]
    fn every_example_is_in_one_row_and_no_row_overflows() {
        let examples: Vec<(u64, usize)> = (0..500).map(|i| (i, 1 + (i as usize * 7919) % 64)).collect();
        let rows = plan_rows(&examples, 64);
        let mut seen: Vec<u64> = rows.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
        let len = |i: u64| examples[i as usize].1;
        assert!(rows.iter().all(|row| row.iter().map(|&i| len(i)).sum::<usize>() <= 64));
        let total: usize = examples.iter().map(|e| e.1).sum();
        assert!(rows.len() <= total.div_ceil(64) + 2, "{} rows for {total} positions", rows.len());
    }

    #[test]
    fn an_example_longer_than_a_row_gets_its_own() {
        assert_eq!(plan_rows(&[(0, 10), (1, 3)], 8), [vec![0], vec![1]]);
    }
}
