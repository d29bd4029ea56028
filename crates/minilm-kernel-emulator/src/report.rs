//! What the kernel checks found: one row per entry point and shape, shown as one line per entry point.

use std::collections::BTreeMap;

pub struct Report {
    rows: Vec<Row>,
}

struct Row {
    entry: String,
    shape: String,
    outcome: Result<f64, String>,
    tolerance: f64,
}

impl Row {
    fn passed(&self) -> bool {
        matches!(self.outcome, Ok(error) if error <= self.tolerance)
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

impl Report {
    pub fn new() -> Self {
        Report { rows: Vec::new() }
    }

    /// Entry point `entry` at `shape`: its relative error against the twin (or why it could not run).
    pub fn record(&mut self, entry: &str, shape: &str, outcome: Result<f64, String>, tolerance: f64) {
        self.rows.push(Row { entry: entry.to_string(), shape: shape.to_string(), outcome, tolerance });
    }

    pub fn passed(&self) -> bool {
        self.rows.iter().all(Row::passed)
    }

    /// The kernel entry points checked (rows named by an identifier; other rows, such as the twin's own
    /// check against the composite path, are not entry points).
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = self.rows.iter().filter(|r| !r.entry.contains(' ')).map(|r| r.entry.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// One line per entry point, in name order: PASS or FAIL, the worst relative error over its shapes
    /// and the tolerance, then the failing shapes with their errors.
    pub fn lines(&self) -> Vec<String> {
        let mut by_entry: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for row in &self.rows {
            by_entry.entry(&row.entry).or_default().push(row);
        }
        by_entry
            .into_iter()
            .map(|(entry, rows)| {
                let worst = rows.iter().filter_map(|r| r.outcome.as_ref().ok()).fold(0f64, |m, &e| m.max(e));
                let tolerance = rows.iter().fold(0f64, |m, r| m.max(r.tolerance));
                let failures: Vec<String> = rows
                    .iter()
                    .filter(|r| !r.passed())
                    .map(|r| match &r.outcome {
                        Ok(error) => format!("{}: relative error {error:.2e}", r.shape),
                        Err(message) => format!("{}: {message}", r.shape),
                    })
                    .collect();
                let status = if failures.is_empty() { "PASS" } else { "FAIL" };
                let mut line = format!("{status} {entry:<40} rel err {worst:.1e} (tol {tolerance:.0e}, {} shapes)", rows.len());
                for failure in failures {
                    line += &format!("\n     {failure}");
                }
                line
            })
            .collect()
    }
}
