//! Lets the `hurricane` binary find the libpython it was built against without
//! LD_LIBRARY_PATH: an rpath to that interpreter's library directory. The interpreter is
//! the one PyO3 builds against: `$PYO3_PYTHON`, else `python3` on PATH.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=PATH");
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
