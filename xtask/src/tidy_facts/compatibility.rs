//! The counts docs/compatibility.md states, against its tables.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::{files, project_root};

use super::fail_on;
use super::markdown::*;

/// The counts a line states: each `**<status> N**` and the total of
/// `(N rows)`.
fn stated_counts(line: &str) -> (Vec<(String, usize)>, Option<usize>) {
    let by_status = line
        .split("**")
        .skip(1)
        .step_by(2)
        .filter_map(|bold| {
            let (status, count) = bold.rsplit_once(' ')?;
            Some((status.to_owned(), count.parse().ok()?))
        })
        .collect();
    let total = line
        .split_once(" rows)")
        .and_then(|(before, _)| before.rsplit_once('(').and_then(|(_, n)| n.parse().ok()));
    (by_status, total)
}

/// The rows of a compatibility table by status (its second column); rows
/// without a status are sub-headings.
fn rows_by_status(table: &Table) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, row) in &table.rows {
        if let Some(status) = row.get(1).filter(|s| !s.is_empty()) {
            *counts.entry(status.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Every line of docs/compatibility.md that states counts (`**same 15**`,
/// `(48 rows)`) states those of the nearest table above it, and names
/// every status that table has.
#[test]
fn the_compatibility_counts_are_those_of_their_tables() -> Result<()> {
    let root = project_root();
    let doc = files::read(&root.join("docs/compatibility.md"))?;
    let lines = numbered(&doc);
    let tables = tables(&lines);
    let mut problems = Vec::new();
    let mut stated = 0;
    for &(number, line) in &lines {
        if line.trim_start().starts_with('|') {
            continue;
        }
        let (by_status, total) = stated_counts(line);
        if by_status.is_empty() && total.is_none() {
            continue;
        }
        stated += 1;
        let Some(table) = tables.iter().rev().find(|t| t.line < number) else {
            problems.push(format!(
                "docs/compatibility.md:{number}: counts with no table above"
            ));
            continue;
        };
        let counts = rows_by_status(table);
        let mut say = |what: String| {
            problems.push(format!(
                "docs/compatibility.md:{number}: {what} (the table of line {})",
                table.line
            ));
        };
        for (status, count) in &by_status {
            let actual = counts.get(status).copied().unwrap_or(0);
            if actual != *count {
                say(format!(
                    "**{status} {count}**, but {actual} rows are `{status}`"
                ));
            }
        }
        for (status, actual) in &counts {
            if !by_status.iter().any(|(s, _)| s == status) {
                say(format!("no count for `{status}`, which {actual} rows have"));
            }
        }
        let rows: usize = counts.values().sum();
        match total {
            Some(total) if total != rows => say(format!("({total} rows), but there are {rows}")),
            None => say(format!("no `(N rows)` total; there are {rows}")),
            Some(_) => {}
        }
    }
    if stated == 0 {
        bail!("docs/compatibility.md: no line states counts; this check reads none");
    }
    fail_on(&problems, "counts of docs/compatibility.md that are wrong")
}

#[test]
fn counts_and_table_rows_are_read() {
    assert_eq!(
        stated_counts("Counts: **same 2**, **not supported 1** (3 rows)."),
        (
            vec![("same".to_owned(), 2), ("not supported".to_owned(), 1)],
            Some(3)
        )
    );
    assert_eq!(stated_counts("* **same**: it works"), (vec![], None));
    let text = "| Key | Status | Why |\n| --- | --- | --- |\n| **Group** | | |\n\
                | `a \\| b` | same | x |\n| c | not supported | y |\n\ntext\n";
    let found = tables(&numbered(text));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].rows[1],
        (
            4,
            vec!["`a | b`".to_owned(), "same".to_owned(), "x".to_owned()]
        )
    );
    assert_eq!(
        rows_by_status(&found[0]).into_iter().collect::<Vec<_>>(),
        [("not supported".to_owned(), 1), ("same".to_owned(), 1)]
    );
}
