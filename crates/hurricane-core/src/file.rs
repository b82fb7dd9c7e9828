//! Streaming an open file into a response body.
//!
//! [`SendFileError`] follows the crate's error convention (see `ServerError`): its message
//! includes the cause's text, and the cause is not chained as `source()` too.

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use crate::BodySender;

/// Size of the reads that feed a file response.
const READ_SIZE: usize = 64 * 1024;

/// Why [`send_file`] stopped before sending what it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum SendFileError {
    /// Nobody reads the body any more; nothing to report.
    #[error("the client is gone")]
    ClientGone,
    /// Reading the file failed.
    #[error("reading the file failed: {0}")]
    Read(std::io::Error),
    /// The file ended before `len` bytes: it shrank after the response's
    /// `Content-Length` was fixed.
    #[error("the file is shorter than the response's Content-Length")]
    Short,
}

// Not `#[from]`: that would also chain the error as `source()`, printed twice.
impl From<std::io::Error> for SendFileError {
    fn from(error: std::io::Error) -> Self {
        Self::Read(error)
    }
}

/// Sends `len` bytes of `file` (all of it when `None`) from its current position into
/// `body`, in reads of 64 KiB, waiting while the client is slow to read.
///
/// The caller decides what an error means for the response; usually
/// [`BodySender::abort`], so the client can tell the body is incomplete.
pub async fn send_file(
    file: &mut tokio::fs::File,
    len: Option<u64>,
    body: &BodySender,
) -> Result<(), SendFileError> {
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_SIZE);
        let mut buffer = BytesMut::with_capacity(want);
        match (&mut *file).take(want as u64).read_buf(&mut buffer).await? {
            0 if len.is_some() => return Err(SendFileError::Short),
            0 => return Ok(()),
            n => {
                left -= n as u64;
                body.send(buffer.freeze())
                    .await
                    .map_err(|_| SendFileError::ClientGone)?;
            }
        }
    }
    Ok(())
}
