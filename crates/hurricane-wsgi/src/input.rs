//! `wsgi.input`: the request body as a file-like object.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The request body, already read completely by the server, as PEP 3333's `wsgi.input`.
///
/// Every mix of `read(n)`, `read()`, `readline()`, `readlines()` and iteration sees the same
/// bytes in order, and EOF comes exactly at the end of the body: reads never block.
#[pyclass(module = "hurricane", name = "WsgiInput")]
pub(crate) struct WsgiInput {
    body: Bytes,
    position: usize,
}

impl WsgiInput {
    pub(crate) fn new(body: Bytes) -> Self {
        Self { body, position: 0 }
    }

    fn remaining(&self) -> &[u8] {
        &self.body[self.position..]
    }

    /// Takes up to `limit` bytes (all with `None`).
    fn take(&mut self, limit: Option<usize>) -> &[u8] {
        let available = self.body.len() - self.position;
        let n = limit.map_or(available, |limit| limit.min(available));
        let start = self.position;
        self.position += n;
        &self.body[start..start + n]
    }

    /// Takes one line, including its `\n`, of at most `limit` bytes.
    fn take_line(&mut self, limit: Option<usize>) -> &[u8] {
        let remaining = self.remaining();
        let line_end = remaining
            .iter()
            .position(|&b| b == b'\n')
            .map_or(remaining.len(), |i| i + 1);
        let n = limit.map_or(line_end, |limit| limit.min(line_end));
        self.take(Some(n))
    }
}

/// Python's convention: `None` or a negative size means "no limit".
fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|s| usize::try_from(s).ok())
}

#[pymethods]
impl WsgiInput {
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.take(limit(size)))
    }

    #[pyo3(signature = (size = None))]
    fn readline<'py>(&mut self, py: Python<'py>, size: Option<isize>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.take_line(limit(size)))
    }

    /// Lines until EOF, or until their total size reaches `hint`.
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&mut self, py: Python<'py>, hint: Option<isize>) -> Vec<Bound<'py, PyBytes>> {
        let hint = limit(hint).filter(|&h| h > 0);
        let mut lines = Vec::new();
        let mut total = 0;
        while self.position < self.body.len() {
            let line = self.take_line(None);
            total += line.len();
            lines.push(PyBytes::new(py, line));
            if hint.is_some_and(|hint| total >= hint) {
                break;
            }
        }
        lines
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        (self.position < self.body.len()).then(|| PyBytes::new(py, self.take_line(None)))
    }

    fn readable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_reads_see_every_byte_once_and_stop_at_the_end() {
        let mut input = WsgiInput::new(Bytes::from_static(b"a\nbb\nccc\ndddd"));
        assert_eq!(input.take(Some(1)), b"a");
        assert_eq!(input.take_line(None), b"\n");
        assert_eq!(input.take_line(Some(1)), b"b");
        assert_eq!(input.take_line(None), b"b\n");
        assert_eq!(input.take(None), b"ccc\ndddd");
        assert_eq!(input.take(None), b"");
        assert_eq!(input.take_line(None), b"");
    }

    #[test]
    fn negative_sizes_mean_no_limit() {
        assert_eq!(limit(Some(-1)), None);
        assert_eq!(limit(None), None);
        assert_eq!(limit(Some(5)), Some(5));
    }
}
