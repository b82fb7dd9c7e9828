//! `wsgi.file_wrapper`: file responses sent by the runtime instead of through Python.

use std::io::{Seek, SeekFrom};

use hurricane_core::{BodySender, SendFileError};
use pyo3::prelude::*;

/// PEP 3333's `wsgi.file_wrapper(filelike, block_size=8192)`.
///
/// When the application returns one whose file-like object is a regular file with a
/// `fileno()`, the server duplicates the descriptor and sends the file from Rust, starting
/// at the object's current position and honouring the application's `Content-Length`;
/// the wrapper is closed (for Django's `FileResponse`: the file is closed and
/// `request_finished` fires) once the file has been sent, on a Python thread. Anything
/// else is iterated like any response, by `read(block_size)` calls.
#[pyclass(module = "hurricane", name = "FileWrapper")]
pub(crate) struct FileWrapper {
    filelike: Py<PyAny>,
    block_size: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, block_size = 8192))]
    fn new(filelike: Py<PyAny>, block_size: usize) -> Self {
        Self {
            filelike,
            block_size: block_size.max(1),
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1(pyo3::intern!(py, "read"), (self.block_size,))?;
        Ok((data.len().unwrap_or(0) > 0).then_some(data))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr(pyo3::intern!(py, "close"))? {
            filelike.call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }
}

impl FileWrapper {
    /// A private handle on the wrapped file, positioned where the file-like object is, if
    /// it is a regular file; `None` means "iterate it in Python".
    pub(crate) fn open_regular_file(&self, py: Python<'_>) -> Option<std::fs::File> {
        let filelike = self.filelike.bind(py);
        let fd: i32 = filelike
            .call_method0(pyo3::intern!(py, "fileno"))
            .ok()?
            .extract()
            .ok()?;
        // The position of a buffered Python file is its `tell()`, not the descriptor's.
        let position: u64 = filelike
            .call_method0(pyo3::intern!(py, "tell"))
            .ok()?
            .extract()
            .ok()?;
        let duplicate: i32 = py
            .import("os")
            .ok()?
            .call_method1("dup", (fd,))
            .ok()?
            .extract()
            .ok()?;
        // SAFETY: `os.dup` just returned a new descriptor that nothing else owns; the File
        // takes ownership and closes it when dropped.
        let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(duplicate) };
        let is_regular = file.metadata().is_ok_and(|m| m.is_file());
        (is_regular && file.seek(SeekFrom::Start(position)).is_ok()).then_some(file)
    }
}

/// Sends `file` from its current position to its end, or `limit` bytes of it; a read
/// error or a file shorter than `limit` aborts the response.
pub(crate) async fn send_file(file: std::fs::File, limit: Option<u64>, body: BodySender) {
    let mut file = tokio::fs::File::from_std(file);
    match hurricane_core::send_file(&mut file, limit, &body).await {
        Ok(()) | Err(SendFileError::ClientGone) => {}
        Err(error) => {
            tracing::error!(%error, "sending a file response failed");
            body.abort(error.into()).await;
        }
    }
}
