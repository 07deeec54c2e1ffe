//! Standalone mode: the manifests of one directory (`*.yaml`, `*.yml`, `*.json`, not
//! hidden), polled for changes. A file that fails to parse is reported and keeps its
//! last good content, so a bad edit never loosens policy; a file that never parsed
//! contributes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use agentnet_policy::Snapshot;

use super::manifest;
use super::publish::{Problem, Publisher};

/// The directory's files and the last good text of each.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    files: BTreeMap<PathBuf, File>,
    /// Every file's stamp at the previous scan; `None` before the first scan.
    previous: Option<BTreeMap<PathBuf, (SystemTime, u64)>>,
}

/// The last good text is kept rather than its parse: a few bytes per object instead of
/// the typed objects, parsed again only when something changes.
#[derive(Debug)]
struct File {
    stamp: (SystemTime, u64),
    good: Option<String>,
    error: Option<String>,
}

/// The source, its publisher, and the problems already logged: the state of the
/// polling task, which works off the async threads.
struct Watch {
    source: DirSource,
    publisher: Publisher,
    reported: Vec<Problem>,
}

// === impl DirSource ===

impl DirSource {
    pub fn new(dir: PathBuf) -> Self {
        DirSource {
            dir,
            files: BTreeMap::new(),
            previous: None,
        }
    }

    /// Re-reads new and changed files and forgets removed ones (blocking I/O: call it
    /// off the async threads). Returns whether anything changed; the first scan always
    /// counts as a change.
    ///
    /// After the first scan, a changed file is read only once its stamp has held for a
    /// whole poll interval: a file caught mid-write (an editor or `echo >` truncating
    /// then writing) would otherwise be read half-written — possibly as an empty, valid
    /// manifest — and replace the last good policy.
    pub fn scan(&mut self) -> std::io::Result<bool> {
        let present = self.stamps()?;
        let before = self.files.len();
        self.files.retain(|path, _| present.contains_key(path));
        // The first scan always publishes: an empty directory is a valid, empty policy,
        // and the sidecar must become ready with it.
        let mut changed = self.previous.is_none() || self.files.len() != before;
        for (path, stamp) in &present {
            let known = self.files.get(path).is_some_and(|f| f.stamp == *stamp);
            let settled = self
                .previous
                .as_ref()
                .is_none_or(|prev| prev.get(path) == Some(stamp));
            if !known && settled {
                self.load(path.clone(), *stamp);
                changed = true;
            }
        }
        self.previous = Some(present);
        Ok(changed)
    }

    /// Modification time and length of each manifest file, following symlinks (as
    /// ConfigMap volumes swap them on update).
    fn stamps(&self) -> std::io::Result<BTreeMap<PathBuf, (SystemTime, u64)>> {
        let mut present = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() && is_manifest(&path) => {
                    present.insert(path, (meta.modified()?, meta.len()));
                }
                _ => {}
            }
        }
        Ok(present)
    }

    fn load(&mut self, path: PathBuf, stamp: (SystemTime, u64)) {
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string());
        let checked = text.and_then(|t| manifest::parse(&t).map(|_| t).map_err(|e| e.to_string()));
        let file = self.files.entry(path).or_insert(File {
            stamp,
            good: None,
            error: None,
        });
        file.stamp = stamp;
        match checked {
            Ok(text) => (file.good, file.error) = (Some(text), None),
            Err(e) => file.error = Some(e),
        }
    }

    /// Every file's last good content.
    pub fn snapshot(&self) -> Snapshot {
        let texts = self.files.values().filter_map(|f| f.good.as_deref());
        // Each text parsed when it was read, so it parses again.
        manifest::snapshot(texts.flat_map(|t| manifest::parse(t).unwrap_or_default()))
    }

    pub fn problems(&self) -> Vec<Problem> {
        let problem = |(path, file): (&PathBuf, &File)| {
            let message = file.error.clone()?;
            Some(Problem {
                source: path.display().to_string(),
                message,
            })
        };
        self.files.iter().filter_map(problem).collect()
    }
}

fn is_manifest(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    !name.starts_with('.') && matches!(ext, "yaml" | "yml" | "json")
}

/// Polls the directory every `interval` and publishes each change, forever.
/// Reading, parsing and compiling run on the blocking pool, never on a request's thread.
pub async fn run(source: DirSource, publisher: Publisher, interval: Duration) {
    let mut watch = Watch {
        source,
        publisher,
        reported: Vec::new(),
    };
    loop {
        let reloaded = tokio::task::spawn_blocking(move || {
            watch.reload();
            watch
        });
        watch = match reloaded.await {
            Ok(watch) => watch,
            Err(e) => {
                return tracing::error!(error = %e, "config reload panicked; keeping the last policy");
            }
        };
        tokio::time::sleep(interval).await;
    }
}

// === impl Watch ===

impl Watch {
    fn reload(&mut self) {
        let dir = self.source.dir.display().to_string();
        match self.source.scan() {
            Ok(true) => self.publish(),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%dir, error = %e, "cannot read the config directory; keeping the last policy")
            }
        }
    }

    fn publish(&mut self) {
        let problems = self.source.problems();
        for p in problems.iter().filter(|p| !self.reported.contains(p)) {
            tracing::warn!(file = %p.source, error = %p.message, "manifest skipped; its last good content stays in force");
        }
        self.reported.clone_from(&problems);
        self.publisher.report(problems);
        if self.publisher.publish(self.source.snapshot()) {
            let generation = self.publisher.state().generation();
            tracing::info!(generation, dir = %self.source.dir.display(), "policy index published");
        }
    }
}

#[cfg(test)]
mod tests;
