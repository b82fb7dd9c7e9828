//! `hurricane-core` on its own: the HTTP/1.1 server with a plain Rust handler, no Python.
//!
//! ```text
//! cargo run -p hurricane-core --example hello                  # a free port, printed
//! EXAMPLE_ADDR=127.0.0.1:8000 cargo run -p hurricane-core --example hello
//! curl -i http://127.0.0.1:8000/anything
//! ```
//!
//! Every request is access-logged on stderr; Ctrl-C stops accepting and lets in-flight
//! requests finish.

use std::error::Error;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response};
use hurricane_core::{AccessLog, ConnectionInfo, Handler, ResponseBody, Server, ServerConfig};

/// Says hello and echoes what it was asked.
struct Hello;

impl Handler for Hello {
    async fn call(&self, request: Request<Bytes>) -> Response<ResponseBody> {
        // The server puts the connection's addresses in every request's extensions.
        let client = request
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.peer.to_string())
            .unwrap_or_default();
        let text = format!(
            "hello from hurricane-core: {} {} ({} body bytes) from {client}\n",
            request.method(),
            request.uri(),
            request.body().len(),
        );
        let mut response = Response::new(ResponseBody::full(Bytes::from(text)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().init();
    let addr = std::env::var("EXAMPLE_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let mut config = ServerConfig::new(addr.parse()?);
    config.max_body_size = 1024 * 1024;

    let server = Server::bind(config)
        .await?
        .with_observer(Arc::new(AccessLog));
    println!("listening on http://{}", server.local_addr()?);

    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = server.serve(Hello, shutdown).await;
    println!("stopped: {outcome:?}");
    Ok(())
}
