//! `StaticFiles` on its own, as a tower `Service`: no hurricane server, no Python.

#![allow(clippy::unwrap_used, reason = "in a test an unwrap() is an assertion")]

use std::path::PathBuf;

use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use hurricane_static::{CacheControl, Directory, Mount, StaticFiles};
use tower_service::Service;

fn site() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hurricane-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::write(dir.join("css/app.css"), "body { color: red }\n").unwrap();
    dir
}

async fn get(
    files: &mut StaticFiles,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = files.call(request.body(()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

#[tokio::test]
async fn serves_validates_and_refuses_as_a_tower_service() {
    let root = site();
    let mount = Mount::new("/assets/", vec![Directory::open(&root).unwrap()])
        .unwrap()
        .cache_control(CacheControl::MaxAge(std::time::Duration::from_secs(5)));
    let mut files = StaticFiles::new(vec![mount]);

    let (status, headers, body) = get(&mut files, "/assets/css/app.css?v=1", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"body { color: red }\n");
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=5");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();

    let (status, _, body) = get(
        &mut files,
        "/assets/css/app.css",
        &[(header::IF_NONE_MATCH, &etag)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (status, headers, body) = get(
        &mut files,
        "/assets/css/app.css",
        &[(header::RANGE, "bytes=-4")],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(headers[header::CONTENT_RANGE], "bytes 16-19/20");
    assert_eq!(body, b"d }\n");

    for uri in [
        "/assets/../Cargo.toml",
        "/assets/css",
        "/assets/css/",
        "/elsewhere/app.css",
        "/assets/%2e%2e/x",
    ] {
        let (status, _, _) = get(&mut files, uri, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// An upload directory that does not exist yet (a fresh deployment): 404 until it
/// appears, then served without anything being rebuilt. It appears here as a symlink
/// to a volume, so its files are only found if it was canonicalised when it appeared,
/// and a symlink inside it that leads out stays 404.
#[cfg(unix)]
#[tokio::test]
async fn an_expected_directory_is_served_once_it_appears() {
    let base =
        std::env::temp_dir().join(format!("hurricane-static-expected-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir(&base).unwrap();
    std::fs::write(base.join("outside.txt"), "secret\n").unwrap();
    let uploads = base.join("uploads");
    let mount = Mount::new("/media/", vec![Directory::expected(&uploads).unwrap()]).unwrap();
    let mut files = StaticFiles::new(vec![mount]);
    let (status, _, _) = get(&mut files, "/media/photo.txt", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let volume = base.join("volume");
    std::fs::create_dir(&volume).unwrap();
    std::fs::write(volume.join("photo.txt"), "uploaded\n").unwrap();
    std::os::unix::fs::symlink(base.join("outside.txt"), volume.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(&volume, &uploads).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (status, body) = loop {
        let (status, _, body) = get(&mut files, "/media/photo.txt", &[]).await;
        if status == StatusCode::OK || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, StatusCode::OK, "not served 10 s after it appeared");
    assert_eq!(body, b"uploaded\n");
    let (status, _, body) = get(&mut files, "/media/escape.txt", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!body.starts_with(b"secret"));
    std::fs::remove_dir_all(&base).unwrap();
}
