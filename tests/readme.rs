//! The README's Rust examples are these test files, shown verbatim: each `rust` block of
//! README.md is the body of one of them (after its `//!` header), so what a reader copies is
//! what `cargo test` runs.

const EXAMPLES: &[(&str, &str)] = &[
    ("readme_first_test.rs", include_str!("readme_first_test.rs")),
    (
        "readme_first_exploration.rs",
        include_str!("readme_first_exploration.rs"),
    ),
];

/// The code of a test file without its leading `//!` lines and the blank line after them.
fn body(file: &str) -> String {
    let lines: Vec<&str> = file.lines().skip_while(|l| l.starts_with("//!")).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

fn readme_rust_blocks() -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line == "```rust" => current = Some(String::new()),
            Some(block) if line == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_rust_block_of_the_readme_is_a_test_file_verbatim() {
    let expected: Vec<String> = EXAMPLES.iter().map(|(_, file)| body(file)).collect();
    let blocks = readme_rust_blocks();
    for (i, ((name, _), want)) in EXAMPLES.iter().zip(&expected).enumerate() {
        assert_eq!(
            blocks.get(i),
            Some(want),
            "README block {i} differs from tests/{name}: copy the file's code into the README"
        );
    }
    assert_eq!(
        blocks.len(),
        EXAMPLES.len(),
        "a README block without a test file"
    );
}
