//! Static files in front of an application: requests under `/static/` are answered from a
//! directory by `hurricane-static`, everything else by a plain Rust handler.
//!
//! ```text
//! cargo run -p hurricane-static --example files               # serves this crate's src/
//! cargo run -p hurricane-static --example files -- /some/dir  # or a directory of yours
//! curl -i http://127.0.0.1:<port>/static/lib.rs               # a file, with ETag etc.
//! curl -i http://127.0.0.1:<port>/static/missing.txt          # 404, from the files
//! curl -i http://127.0.0.1:<port>/other                       # the application
//! ```
//!
//! `EXAMPLE_ADDR` sets the address (default `127.0.0.1:0`, a free port); Ctrl-C stops.

use std::error::Error;

use bytes::Bytes;
use http::{Request, Response};
use hurricane_core::{Handler, ResponseBody, Server, ServerConfig};
use hurricane_static::{CacheControl, Directory, Mount, StaticFiles, WithStaticFiles};

/// What answers the requests that are not under a mount.
struct App;

impl Handler for App {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        let text = format!("the application answers {}\n", request.uri().path());
        Response::new(ResponseBody::full(Bytes::from(text)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || concat!(env!("CARGO_MANIFEST_DIR"), "/src").into(),
        Into::into,
    );
    let dir: std::path::PathBuf = dir;
    // Checked now, so a typo is an error at start-up rather than a 404 per request.
    let mount =
        Mount::new("/static/", vec![Directory::open(&dir)?])?.cache_control(CacheControl::NoCache);
    let handler = WithStaticFiles::new(StaticFiles::new(vec![mount]), App);

    let addr = std::env::var("EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let server = Server::bind(ServerConfig::new(addr.parse()?)).await?;
    println!(
        "serving {} under http://{}/static/",
        dir.display(),
        server.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server.serve(handler, shutdown).await;
    Ok(())
}
