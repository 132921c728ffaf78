//! One line per file, then `N passed, N failed, N skipped`.

use core::fmt;

use talos_crypto::json::Value;

/// How one file fared.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every case that was run passed.
    Pass {
        /// Number of cases run.
        cases: usize,
        /// Cases or fields deliberately not checked, each with its reason.
        skipped: Vec<String>,
    },
    /// At least one case failed.
    Fail {
        /// Each failing case with what went wrong.
        failures: Vec<String>,
    },
    /// The file was not run.
    Skip {
        /// Why.
        reason: String,
    },
}

/// The result for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// Path relative to the directory that was run.
    pub path: String,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for FileResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass { cases, skipped } => {
                write!(f, "pass  {}  ({cases} cases)", self.path)?;
                for s in skipped {
                    write!(f, "; not checked: {s}")?;
                }
                Ok(())
            }
            Outcome::Fail { failures } => write!(f, "FAIL  {}  {}", self.path, failures.join("; ")),
            Outcome::Skip { reason } => write!(f, "skip  {}  ({reason})", self.path),
        }
    }
}

/// The results of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per file, in the order they were run.
    pub files: Vec<FileResult>,
}

impl Report {
    /// Adds a result.
    pub fn push(&mut self, path: impl Into<String>, outcome: Outcome) {
        self.files.push(FileResult {
            path: path.into(),
            outcome,
        });
    }

    /// `(passed, failed, skipped)` file counts.
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for file in &self.files {
            match file.outcome {
                Outcome::Pass { .. } => counts.0 += 1,
                Outcome::Fail { .. } => counts.1 += 1,
                Outcome::Skip { .. } => counts.2 += 1,
            }
        }
        counts
    }

    /// Whether anything failed.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.counts().1 > 0
    }

    /// The outcome for `path`, if it was run.
    #[must_use]
    pub fn outcome(&self, path: &str) -> Option<&Outcome> {
        self.files
            .iter()
            .find(|f| f.path == path)
            .map(|f| &f.outcome)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            writeln!(f, "{file}")?;
        }
        let (passed, failed, skipped) = self.counts();
        write!(f, "{passed} passed, {failed} failed, {skipped} skipped")
    }
}

/// Collects per-case results for one file.
#[derive(Debug, Default)]
pub(crate) struct Cases {
    run: usize,
    failures: Vec<String>,
    skipped: Vec<String>,
}

impl Cases {
    /// Records one case.
    pub(crate) fn check(&mut self, id: &str, result: Result<(), String>) {
        self.run += 1;
        if let Err(e) = result {
            self.failures.push(format!("{id}: {e}"));
        }
    }

    /// Runs `check` on every item of the array `doc[list]`, naming each case by its `id_key`
    /// member (or the item itself, for a string); a missing array is a failure.
    pub(crate) fn each(
        &mut self,
        doc: &Value,
        list: &str,
        id_key: &str,
        mut check: impl FnMut(&Value) -> Result<(), String>,
    ) {
        match crate::util::array_field(doc, list) {
            Ok(items) => {
                for item in items {
                    let id = item
                        .get(id_key)
                        .or(Some(item))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    self.check(&format!("{list}/{id}"), check(item));
                }
            }
            Err(e) => self.check(list, Err(e)),
        }
    }

    /// Records something deliberately not checked.
    pub(crate) fn skip(&mut self, what: &str, reason: &str) {
        self.skipped.push(format!("{what} ({reason})"));
    }

    /// The file's outcome; a file in which no case ran fails, so a format change that makes
    /// a handler find nothing cannot pass silently.
    pub(crate) fn finish(self) -> Outcome {
        if self.run == 0 {
            Outcome::Fail {
                failures: vec!["no cases found".into()],
            }
        } else if self.failures.is_empty() {
            Outcome::Pass {
                cases: self.run,
                skipped: self.skipped,
            }
        } else {
            Outcome::Fail {
                failures: self.failures,
            }
        }
    }
}
