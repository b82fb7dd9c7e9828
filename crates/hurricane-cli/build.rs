//! Lets the `hurricane` binary find the libpython it was built against without
//! LD_LIBRARY_PATH: an rpath to that interpreter's library directory. The interpreter is
//! the one PyO3 builds against: `$PYO3_PYTHON`, else `python3` on PATH. A binary that
//! leaves the build machine (`cargo xtask dist`) is built with `HURRICANE_NO_RPATH=1`:
//! that directory does not exist elsewhere, and the system's libpython is found instead.
//!
//! Also names the cargo features built in (`HURRICANE_FEATURES`, for `--version`).
use std::process::Command;

fn main() {
    features();
    rpath();
}

/// `HURRICANE_FEATURES`: the enabled features, sorted, space-separated ("probe reload").
fn features() {
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(name, _)| {
            let feature = name.strip_prefix("CARGO_FEATURE_")?;
            Some(feature.to_lowercase().replace('_', "-"))
        })
        .filter(|feature| feature != "default")
        .collect();
    features.sort();
    println!("cargo:rustc-env=HURRICANE_FEATURES={}", features.join(" "));
}

fn rpath() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=HURRICANE_NO_RPATH");
    if std::env::var_os("HURRICANE_NO_RPATH").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = "import sysconfig; v = sysconfig.get_config_var; \
                  print(v('LIBDIR') if v('Py_ENABLE_SHARED') else '')";
    let Ok(output) = Command::new(&python).args(["-c", script]).output() else {
        println!(
            "cargo:warning=cannot run {python} to find libpython; the binary needs LD_LIBRARY_PATH"
        );
        return;
    };
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !libdir.is_empty() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{libdir}");
    }
}
