//! A file that is polled for changes: mounted ConfigMaps and projected volumes are
//! replaced by the kubelet through a symlink swap, which inotify-style watches miss, so
//! the content itself is compared on every poll.

use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Watched {
    path: PathBuf,
    /// The content last handed out, to report only changes.
    last: Option<Vec<u8>>,
    /// The last read error, to report each distinct error once.
    last_error: Option<String>,
}

// === impl Watched ===

impl Watched {
    pub fn new(path: PathBuf) -> Self {
        Watched {
            path,
            last: None,
            last_error: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content when it differs from the last call's, or a read error not seen
    /// just before; `None` when nothing changed.
    pub async fn changed(&mut self) -> Option<std::io::Result<Vec<u8>>> {
        match tokio::fs::read(&self.path).await {
            Ok(content) if self.last.as_ref() == Some(&content) => None,
            Ok(content) => {
                self.last = Some(content.clone());
                self.last_error = None;
                Some(Ok(content))
            }
            Err(e) if self.last_error.as_deref() == Some(&e.to_string()) => None,
            Err(e) => {
                self.last_error = Some(e.to_string());
                self.last = None;
                Some(Err(e))
            }
        }
    }

    /// Forgets the last content, so the next poll reports it again (to retry after a
    /// failure that did not depend on the file alone).
    pub fn retry(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_changes_and_errors_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = Watched::new(dir.path().join("f"));
        assert!(matches!(file.changed().await, Some(Err(_))), "missing");
        assert!(file.changed().await.is_none(), "the same error once");
        std::fs::write(file.path(), "a").unwrap();
        assert_eq!(file.changed().await.unwrap().unwrap(), b"a");
        assert!(file.changed().await.is_none());
        file.retry();
        assert_eq!(file.changed().await.unwrap().unwrap(), b"a");
        std::fs::write(file.path(), "b").unwrap();
        assert_eq!(file.changed().await.unwrap().unwrap(), b"b");
    }
}
