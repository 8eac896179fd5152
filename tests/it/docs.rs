//! The README's analysis table is generated from the analysis registry (the list `--help`
//! prints too): this test fails when they drift apart and prints the table to paste, or
//! rewrites it in place with `SASNET_BLESS=1`.

use std::path::Path;

const BEGIN: &str = "<!-- analyses: begin (generated from the registry) -->";
const END: &str = "<!-- analyses: end -->";

/// The markdown table of every analysis of the registry, in report order.
fn table() -> String {
    let mut s = String::from("| analysis | what it answers |\n|---|---|\n");
    for (name, about) in sasnet::api::analyses() {
        s.push_str(&format!("| `{name}` | {about} |\n"));
    }
    s
}

#[test]
fn readme_analysis_table_is_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).expect("README.md is readable");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("README.md lacks the markers {BEGIN} … {END}");
    };
    let current = &text[b + BEGIN.len()..e];
    let want = format!("\n{}", table());
    if current == want {
        return;
    }
    if std::env::var_os("SASNET_BLESS").is_some() {
        let new = format!("{}{}{}", &text[..b + BEGIN.len()], want, &text[e..]);
        std::fs::write(&path, new).expect("README.md is writable");
        return;
    }
    panic!(
        "the README's analysis table differs from the registry; run with SASNET_BLESS=1 or paste:\n{want}"
    );
}
