//! Records the git commit of the build (`SASNET_GIT_COMMIT`, read by `option_env!` in the
//! run provenance; absent outside a git checkout).

fn main() {
    println!("cargo:rerun-if-env-changed=SASNET_GIT_COMMIT");
    if std::env::var_os("SASNET_GIT_COMMIT").is_some() {
        return;
    }
    // Rebuilt when HEAD moves (a commit, a checkout).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    if let Some(c) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=SASNET_GIT_COMMIT={c}");
    }
}

/// The trimmed output of `git ARGS`, if it succeeds.
fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
