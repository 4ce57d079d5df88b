//! Reading Rust source for the source checks: only the code, without the
//! comments and literals that may mention what the code must not do.

/// `source` with comments and the contents of string and character literals
/// replaced by spaces, keeping every newline so line numbers still match.
///
/// Doc comments may say what the crate never calls, and that must not trip
/// the check. This is a lexer for the cases that occur in practice (nested
/// block comments, escapes, raw strings, lifetimes), not a Rust parser.
pub(crate) fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&inner) = chars.get(i) {
                    out.push(blank(inner));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == 'r' && raw_string_hashes(&chars, i).is_some() && !prev_is_ident(&chars, i) {
            let hashes = raw_string_hashes(&chars, i).unwrap_or_default();
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            // Skip `r`, the hashes and the opening quote.
            for _ in 0..hashes + 2 {
                out.push(' ');
                i += 1;
            }
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                out.push(blank(chars[i]));
                i += 1;
            }
            for _ in 0..closing.len().min(chars.len() - i) {
                out.push(' ');
                i += 1;
            }
        } else if c == '\'' {
            // A character literal is `'x'` or `'\..'`; anything else is a lifetime.
            let end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            if let Some(end) = end {
                for _ in i..=end {
                    out.push(' ');
                }
                i = end + 1;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` after the `r` at `at` when a raw string starts there.
fn raw_string_hashes(chars: &[char], at: usize) -> Option<usize> {
    let hashes = chars[at + 1..].iter().take_while(|&&c| c == '#').count();
    (chars.get(at + 1 + hashes) == Some(&'"')).then_some(hashes)
}

fn prev_is_ident(chars: &[char], at: usize) -> bool {
    at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literals_are_blanked_but_lines_kept() {
        let source = "//! never calls SystemTime::now\n\
                      let a = \"std::fs \\\" tokio\"; /* std::net\n still */ let b = 'x';\n\
                      let c = r#\"OsRng\"#; fn f<'a>(x: &'a str) {}\n\
                      let d = std::env::var(\"X\");\n";
        let code = code_only(source);
        assert_eq!(code.lines().count(), source.lines().count());
        for token in ["SystemTime::now", "std::fs", "tokio", "std::net", "OsRng"] {
            assert!(!code.contains(token), "{token} left in {code:?}");
        }
        assert!(code.contains("fn f<'a>(x: &'a str)"));
        assert!(
            code.lines()
                .nth(4)
                .is_some_and(|line| line.contains("std::env::var("))
        );
    }
}
