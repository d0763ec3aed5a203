//! The on-disk spool shared by the sinks that deliver to a remote service (webhook, NATS):
//! `write_batch` appends a batch here (durable when it returns), a background task delivers
//! the files oldest first and removes each only once the service has it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::SinkError;
use crate::audit::dead_letter::DeadLetterSender;

const TMP_PREFIX: &str = ".tmp-";

/// The subdirectory of a spool that keeps the events a service refused for good, out of the
/// delivery order.
pub(super) const REFUSED_DIR: &str = "refused";

/// Refusals for good (a webhook's 400, 413 or 422; a NATS server's payload or message size
/// limit) after which the webhook and NATS sinks set a single event aside, in the spool's
/// `refused/` subdirectory, and go on with the events behind it.
pub const REFUSALS_BEFORE_SET_ASIDE: u32 = 3;

/// A directory of batch files (each a JSON array), named so that name order is write order.
#[derive(Debug)]
pub(super) struct Spool {
    dir: PathBuf,
    sequence: AtomicU64,
    letters: Arc<SetAsideLetters>,
}

impl Spool {
    /// Opens `dir`, creating it and recovering what a crash left half-written.
    pub(super) fn open(dir: PathBuf) -> Result<Self, SinkError> {
        recover_spool(&dir).map_err(|source| SinkError::Io { path: dir.clone(), source })?;
        let letters = Arc::new(SetAsideLetters {
            dir: dir.join(REFUSED_DIR),
            sender: OnceLock::new(),
            one_at_a_time: tokio::sync::Mutex::new(()),
        });
        Ok(Self { dir, sequence: AtomicU64::new(0), letters })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The dead letters of the events set aside in this spool.
    pub(super) fn letters(&self) -> &Arc<SetAsideLetters> {
        &self.letters
    }

    /// Runs file work off the async threads; an I/O error names the spool directory.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> Result<T, SinkError> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| SinkError::Task(e.to_string()))?
            .map_err(|source| SinkError::Io { path: self.dir.clone(), source })
    }

    /// Writes `body` as the newest batch: fsynced and renamed into place before it returns.
    pub(super) async fn append(&self, body: Vec<u8>) -> Result<(), SinkError> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:020}-{seq:010}.json");
        let dir = self.dir.clone();
        self.blocking(move || write_spool_file(&dir, &name, &body)).await
    }

    /// The delivery task's wait: the spooled files, oldest first, as soon as there are any
    /// (sleeping on `spooled` while the spool is empty, and `retry_after` when it cannot be
    /// read); `None` when the runtime shuts down. The task delivers each file and wakes
    /// [`drain`](Self::drain)'s waiters.
    pub(super) async fn next_files(
        &self,
        spooled: &tokio::sync::Notify,
        retry_after: std::time::Duration,
        service: &str,
    ) -> Option<Vec<PathBuf>> {
        loop {
            let notified = spooled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.list().await {
                Ok(files) if files.is_empty() => notified.await,
                Ok(files) => return Some(files),
                Err(SinkError::Task(_)) => return None,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the audit {service} spool");
                    tokio::time::sleep(retry_after).await;
                }
            }
        }
    }

    /// Waits until the delivery task has emptied the spool (woken by `delivered` after each
    /// delivered batch) or `deadline` passes; then logs what stays spooled for the next start
    /// (`service` names the destination). Never an error for what stays: it is on disk.
    pub(super) async fn drain(
        &self,
        delivered: &tokio::sync::Notify,
        deadline: tokio::time::Instant,
        service: &str,
    ) -> Result<(), SinkError> {
        loop {
            let notified = delivered.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pending = self.list().await?.len();
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(
                    pending,
                    spool = %self.dir.display(),
                    "{service} still unreachable at shutdown; audit batches stay spooled for the next start"
                );
                return Ok(());
            }
        }
    }

    /// Replaces the batch file `path` by `parts`, in order: each is written like a new batch
    /// under a name that sorts where `path` did (`<stem>-0.json`, `<stem>-1.json`, ...), then
    /// `path` is removed. A crash in between leaves both: the parts may be delivered twice,
    /// never lost.
    #[cfg(feature = "webhook")]
    pub(super) async fn split(&self, path: &Path, parts: Vec<Vec<u8>>) -> Result<(), SinkError> {
        let dir = self.dir.clone();
        let path = path.to_owned();
        let stem = batch_name(&path);
        self.blocking(move || {
            for (i, body) in parts.iter().enumerate() {
                write_spool_file(&dir, &format!("{stem}-{i}.json"), body)?;
            }
            fs::remove_file(&path)?;
            fs::File::open(&dir)?.sync_all()
        })
        .await
    }

    /// Moves the batch file `path` out of the delivery order, into [`REFUSED_DIR`] under the
    /// spool directory; returns its new path.
    #[cfg(feature = "webhook")]
    pub(super) async fn set_aside(&self, path: &Path) -> Result<PathBuf, SinkError> {
        let refused = self.dir.join(REFUSED_DIR);
        let path = path.to_owned();
        let moved = refused.join(path.file_name().unwrap_or_default());
        let target = moved.clone();
        self.blocking(move || {
            fs::create_dir_all(&refused)?;
            fs::rename(&path, &target)?;
            fs::File::open(&refused)?.sync_all()?;
            fs::File::open(path.parent().unwrap_or(&refused))?.sync_all()
        })
        .await?;
        Ok(moved)
    }

    /// Renames the batch file `path`, which cannot be read, to `<name>.unreadable`: out of the
    /// delivery order, so that it does not block (or, relisted at once, spin on) the batches
    /// behind it, and kept for an operator. When even the rename fails, waits `retry_after`
    /// before the delivery task lists the spool again.
    pub(super) async fn set_unreadable_aside(
        &self,
        path: &Path,
        error: &(dyn std::fmt::Display + Sync),
        retry_after: std::time::Duration,
    ) {
        let aside = path.with_extension("unreadable");
        tracing::error!(
            error = %error,
            file = %path.display(),
            aside = %aside.display(),
            "a spooled audit batch cannot be read; it is set aside for an operator"
        );
        let (from, to) = (path.to_owned(), aside);
        if let Err(e) = self.blocking(move || fs::rename(from, to)).await {
            tracing::error!(error = %e, file = %path.display(), "cannot set an unreadable audit batch aside");
            tokio::time::sleep(retry_after).await;
        }
    }

    /// Writes `body` as the batch `name` in [`REFUSED_DIR`], out of the delivery order;
    /// returns its path.
    #[cfg(feature = "nats")]
    pub(super) async fn keep_refused(&self, name: String, body: Vec<u8>) -> Result<PathBuf, SinkError> {
        let refused = self.dir.join(REFUSED_DIR);
        let path = refused.join(&name);
        self.blocking(move || write_spool_file(&refused, &name, &body)).await?;
        Ok(path)
    }

    /// The batches set aside in [`REFUSED_DIR`], oldest first.
    pub(super) async fn refused(&self) -> Result<Vec<PathBuf>, SinkError> {
        let dir = self.dir.join(REFUSED_DIR);
        self.blocking(move || list_spool(&dir)).await
    }

    /// The spooled batches, oldest first.
    pub(super) async fn list(&self) -> Result<Vec<PathBuf>, SinkError> {
        let dir = self.dir.clone();
        self.blocking(move || list_spool(&dir)).await
    }
}

/// The dead letters of the events a sink set aside in its spool's [`REFUSED_DIR`].
///
/// A stored letter is marked by an empty `<name>.lettered` file next to the kept event. When
/// the sink joins a logger ([`connect`](Self::connect)), every kept event without that mark is
/// sent: those set aside before the sink had a logger (a spool left by an earlier run, or the
/// first moments of this one), and those whose letter a crash or a dead-letter store that was
/// down cut off. A letter's id is derived from the kept file (a UUIDv7 of the file's write time
/// and a hash of its name), so a letter sent twice (a crash between storing and marking it) is
/// one row in the database store.
pub(super) struct SetAsideLetters {
    dir: PathBuf,
    sender: OnceLock<DeadLetterSender>,
    /// Serialises the sends, so that a kept event is checked for its mark and lettered by one
    /// task at a time (the set-aside path and the start-up scan may meet on one file).
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SetAsideLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetAsideLetters")
            .field("dir", &self.dir)
            .field("connected", &self.sender.get().is_some())
            .finish()
    }
}

impl SetAsideLetters {
    /// Keeps the logger's dead-letter path (the first one given) and, on a task of its own,
    /// sends the letters of the kept events that have none: `decode` reads the event from a
    /// kept file, `service` names who refused it.
    pub(super) fn connect(
        self: &Arc<Self>,
        sender: DeadLetterSender,
        service: &'static str,
        decode: fn(&[u8]) -> Option<serde_json::Value>,
    ) {
        if self.sender.set(sender).is_err() {
            return;
        }
        let letters = self.clone();
        tokio::spawn(async move { letters.send_missing(service, decode).await });
    }

    /// Sends the letter of the event just set aside in `kept` (as the sink encoded it) when
    /// the sink has joined a logger. The store runs on its own task: a dead-letter store that
    /// is down must not stop the delivery of the events behind this one. The kept file stays
    /// the event's copy to deliver again; the letter names it.
    pub(super) fn set_aside(self: &Arc<Self>, encoded: serde_json::Value, refusal: String, kept: PathBuf) {
        if self.sender.get().is_none() {
            return;
        }
        let letters = self.clone();
        tokio::spawn(async move { letters.send(&kept, &encoded, &refusal, false).await });
    }

    async fn send_missing(&self, service: &str, decode: fn(&[u8]) -> Option<serde_json::Value>) {
        let dir = self.dir.clone();
        let kept = match tokio::task::spawn_blocking(move || list_spool(&dir)).await {
            Ok(Ok(kept)) => kept,
            Ok(Err(e)) => {
                tracing::error!(error = %e, dir = %self.dir.display(), "cannot list the audit events set aside; their dead letters are not sent");
                return;
            }
            Err(_) => return,
        };
        for file in kept {
            if tokio::fs::try_exists(lettered(&file)).await.unwrap_or(false) {
                continue;
            }
            match tokio::fs::read(&file).await.ok().as_deref().and_then(decode) {
                Some(encoded) => {
                    let refusal = format!(
                        "{service} refused it for good before its dead letter was stored (the refusal is in the error log of that time)"
                    );
                    self.send(&file, &encoded, &refusal, true).await;
                }
                None => tracing::error!(
                    file = %file.display(),
                    "an audit event set aside cannot be read; it stays in this file without a dead letter"
                ),
            }
        }
    }

    /// Letters the event kept in `kept` unless it is marked; `maybe_stored` when the letter may
    /// have been stored before a crash cut off its mark (the start-up scan).
    async fn send(&self, kept: &Path, encoded: &serde_json::Value, refusal: &str, maybe_stored: bool) {
        let Some(sender) = self.sender.get() else { return };
        let _turn = self.one_at_a_time.lock().await;
        let mark = lettered(kept);
        if tokio::fs::try_exists(&mark).await.unwrap_or(false) {
            return;
        }
        let error = SinkError::Refused(format!("{refusal}; the event is kept in {}", kept.display()));
        if sender.send_encoded(letter_id(kept).await, encoded, &error, maybe_stored).await
            && let Err(e) = tokio::fs::write(&mark, b"").await
        {
            tracing::warn!(error = %e, file = %mark.display(), "cannot mark a dead letter as stored; it is sent again at the next start");
        }
    }
}

/// The mark of a kept event whose dead letter is stored.
fn lettered(kept: &Path) -> PathBuf {
    kept.with_extension("lettered")
}

/// The id of a kept event's dead letter: the same for every send of it.
async fn letter_id(kept: &Path) -> Uuid {
    let written = tokio::fs::metadata(kept).await.and_then(|m| m.modified()).ok();
    let millis = written.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_millis());
    let digest = Sha256::digest(kept.file_name().unwrap_or_default().as_encoded_bytes());
    let mut name = [0u8; 10];
    name.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(millis).unwrap_or(u64::MAX), &name).into_uuid()
}

/// A batch file's name without `.json`: the webhook's delivery id, the prefix of its parts'
/// names and of the names of the events set aside from it.
pub(super) fn batch_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn write_spool_file(dir: &Path, name: &str, body: &[u8]) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{TMP_PREFIX}{name}"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(body)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    // Make the rename itself durable.
    fs::File::open(dir)?.sync_all()
}

fn list_spool(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".json") && !name.starts_with(TMP_PREFIX) {
                    files.push(entry.path());
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    files.sort();
    Ok(files)
}

/// A crash between writing and renaming leaves a temporary file: keep it if it is a whole
/// batch (its write finished), drop it if it is torn (its `write_batch` never returned `Ok`,
/// so the logger did not count it as written).
fn recover_spool(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(final_name) = name.strip_prefix(TMP_PREFIX) else { continue };
        let whole = fs::read(entry.path())
            .ok()
            .is_some_and(|body| serde_json::from_slice::<Vec<serde_json::Value>>(&body).is_ok());
        if whole {
            fs::rename(entry.path(), dir.join(final_name))?;
        } else {
            tracing::warn!(file = %entry.path().display(), "removing a torn audit spool file left by a crash");
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
