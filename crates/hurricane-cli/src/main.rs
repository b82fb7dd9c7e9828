//! `hurricane`: the binary launcher. It embeds CPython; everything else is the
//! `hurricane_cli` library, shared with the Python package's launchers.

use std::process::ExitCode;

fn main() -> ExitCode {
    let launcher = hurricane_cli::Launcher::binary();
    ExitCode::from(hurricane_cli::run(&launcher, std::env::args_os()))
}
