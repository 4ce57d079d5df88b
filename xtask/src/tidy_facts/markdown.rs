//! Reading Markdown: sections, tables and backticked names.

/// A line of a file with its 1-based number.
pub(super) type Line<'a> = (usize, &'a str);

/// Every line of `text`, numbered from 1.
pub(super) fn numbered(text: &str) -> Vec<Line<'_>> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect()
}

/// The heading level of a line outside code fences (`## Errors` is 2), or 0.
pub(super) fn heading_level(line: &str) -> usize {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if hashes > 0 && line[hashes..].starts_with(' ') {
        hashes
    } else {
        0
    }
}

/// The lines after the heading line `heading` up to the next heading of the
/// same or a higher level; lines inside code fences are kept but never taken
/// for headings (shell comments start with `#` too).
pub(super) fn section<'a>(text: &'a str, heading: &str) -> Option<Vec<Line<'a>>> {
    let level = heading_level(heading);
    let lines = numbered(text);
    let start = lines
        .iter()
        .position(|(_, line)| line.trim_end() == heading)?;
    let mut in_fence = false;
    let mut found = Vec::new();
    for &(number, line) in &lines[start + 1..] {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        let inner = heading_level(line);
        if !in_fence && inner > 0 && inner <= level {
            break;
        }
        found.push((number, line));
    }
    Some(found)
}

/// The cells of a table row: split at `|` (but not `\|`), trimmed, with
/// `\|` read as `|`.
pub(super) fn cells(row: &str) -> Vec<String> {
    let row = row.trim();
    let row = row.strip_prefix('|').unwrap_or(row);
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut found = Vec::new();
    let mut cell = String::new();
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => found.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    found.push(cell.trim().to_owned());
    found
}

/// One Markdown table: the line of its header, the header's cells and each
/// body row's line and cells (the `| --- |` row left out).
#[derive(Debug)]
pub(super) struct Table {
    pub(super) line: usize,
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<(usize, Vec<String>)>,
}

/// The tables among `lines`: runs of lines starting with `|`.
pub(super) fn tables(lines: &[Line<'_>]) -> Vec<Table> {
    let mut found: Vec<Table> = Vec::new();
    let mut previous_was_row = false;
    for &(number, line) in lines {
        let is_row = line.trim_start().starts_with('|');
        if is_row && previous_was_row {
            let row = cells(line);
            let is_rule = row
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|c| matches!(c, '-' | ':')));
            if let (false, Some(table)) = (is_rule, found.last_mut()) {
                table.rows.push((number, row));
            }
        } else if is_row {
            found.push(Table {
                line: number,
                header: cells(line),
                rows: Vec::new(),
            });
        }
        previous_was_row = is_row;
    }
    found
}

/// The texts between backticks in `text`.
pub(super) fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}
