use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{AuditSink, ExportFormat, SinkError};
use crate::audit::event::AuditEvent;

/// When the file sink asks the OS to put written lines on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` after every batch, before the batch counts as written (the default): a
    /// power loss loses no acknowledged event.
    #[default]
    EveryBatch,
    /// Leave flushing to the OS: faster, but a power loss (not a process crash) can lose the
    /// last seconds of events.
    Os,
}

/// Appends events as JSON Lines (one event per line) with size-based rotation.
///
/// When writing a batch would take the file past `max_bytes`, `audit.log` becomes
/// `audit.log.1`, `audit.log.1` becomes `audit.log.2`, ... and the oldest beyond `max_files`
/// is deleted. A batch is never split across two files. If a write fails half-way the file is
/// truncated back, so a retry never leaves a torn line.
///
/// ```no_run
/// use rail_graphql_security::audit::{ExportFormat, FileSink, FsyncPolicy};
///
/// let sink = FileSink::new("/var/log/myapp/audit.log")
///     .max_bytes(50 * 1024 * 1024)
///     .max_files(10)
///     .format(ExportFormat::Ocsf)
///     .fsync(FsyncPolicy::EveryBatch);
/// ```
#[derive(Debug, Clone)]
pub struct FileSink {
    path: PathBuf,
    format: ExportFormat,
    max_bytes: u64,
    max_files: usize,
    fsync: FsyncPolicy,
    open: Arc<Mutex<Option<OpenFile>>>,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    len: u64,
}

impl FileSink {
    /// A sink appending to `path` (created with its parent directories on first write), rotating
    /// at 100 MiB and keeping 5 old files.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: ExportFormat::Json,
            max_bytes: 100 * 1024 * 1024,
            max_files: 5,
            fsync: FsyncPolicy::EveryBatch,
            open: Arc::new(Mutex::new(None)),
        }
    }

    /// Rotates once the file would grow past `bytes`.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// How many rotated files to keep (`0` keeps none: the full file is deleted on rotation).
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = files;
        self
    }

    /// The line format.
    pub fn format(mut self, format: ExportFormat) -> Self {
        self.format = format;
        self
    }

    /// The fsync policy.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// The path of the live file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, lines: &[u8]) -> io::Result<()> {
        let mut guard = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut open = match guard.take() {
            Some(open) => open,
            None => self.open_live()?,
        };
        // Checked after (re)opening too: a file left nearly full by a previous process rotates.
        if open.len > 0 && open.len + lines.len() as u64 > self.max_bytes {
            drop(open);
            self.rotate()?;
            open = self.open_live()?;
        }
        if let Err(e) = open.file.write_all(lines).and_then(|()| self.sync(&open.file)) {
            // Cut a partly written batch off so the retry cannot leave a torn line behind.
            let _ = open.file.set_len(open.len);
            return Err(e);
        }
        open.len += lines.len() as u64;
        *guard = Some(open);
        Ok(())
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        match self.fsync {
            FsyncPolicy::EveryBatch => file.sync_data(),
            FsyncPolicy::Os => Ok(()),
        }
    }

    fn open_live(&self) -> io::Result<OpenFile> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let len = file.metadata()?.len();
        Ok(OpenFile { file, len })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    fn rotate(&self) -> io::Result<()> {
        if self.max_files == 0 {
            return fs::remove_file(&self.path);
        }
        let oldest = self.rotated(self.max_files);
        if oldest.exists() {
            fs::remove_file(&oldest)?;
        }
        for n in (1..self.max_files).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        fs::rename(&self.path, self.rotated(1))
    }
}

#[async_trait]
impl AuditSink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), SinkError> {
        let mut lines = Vec::with_capacity(events.len() * 256);
        for event in events {
            // serde_json escapes CR and LF, so one event is always exactly one line.
            serde_json::to_writer(&mut lines, &self.format.encode(event)?)?;
            lines.push(b'\n');
        }
        let sink = self.clone();
        tokio::task::spawn_blocking(move || sink.append(&lines))
            .await
            .map_err(|e| SinkError::Task(e.to_string()))?
            .map_err(|source| SinkError::Io { path: self.path.clone(), source })
    }
}
