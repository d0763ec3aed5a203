//! Editing a TOML file in place: comments and formatting survive, the write is atomic.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Table};

use super::CliError;

/// Sets the dotted `key` to `value`, creating tables as needed and keeping the comments around
/// an existing value. Returns the previous value, if any.
pub(super) fn set_dotted(
    document: &mut DocumentMut,
    key: &str,
    value: toml_edit::Value,
) -> Result<Option<String>, CliError> {
    let parts: Vec<&str> = key.split('.').collect();
    let (last, sections) = parts.split_last().ok_or_else(|| CliError::Message("empty key".into()))?;
    let mut table: &mut Table = document.as_table_mut();
    for section in sections {
        let entry = table.entry(section).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(true);
            Item::Table(new)
        });
        table = entry.as_table_mut().ok_or_else(|| {
            CliError::Message(format!(
                "cannot fix `{key}`: `{section}` is not a table in the config file; fix it by hand"
            ))
        })?;
    }
    let previous = table.get(last).and_then(Item::as_value).map(|v| v.clone().decorated("", "").to_string());
    match table.get_mut(last).and_then(Item::as_value_mut) {
        Some(existing) => {
            let decor = existing.decor().clone();
            *existing = value;
            *existing.decor_mut() = decor;
        }
        None => {
            table.insert(last, toml_edit::value(value));
        }
    }
    Ok(previous)
}

/// Whose permissions the written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Permissions {
    /// Those of the file being replaced (0600 if it is new).
    KeepExisting,
    /// 0600 on Unix, whatever the old file had: the contents hold keys.
    Private,
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so
/// the file is either the old one or the new one, never half written. A symbolic link (to a
/// secrets mount, say) stays one: the file it points to is replaced, next to itself.
pub(super) fn write_atomically(path: &Path, contents: &str, permissions: Permissions) -> Result<(), CliError> {
    let error = |source| CliError::Write { path: path.to_owned(), source };
    let target;
    let path = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            target = std::fs::canonicalize(path).map_err(error)?;
            target.as_path()
        }
        _ => path,
    };
    let error = |source| CliError::Write { path: path.to_owned(), source };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        if permissions == Permissions::KeepExisting
            && let Ok(existing) = std::fs::metadata(path)
        {
            std::fs::set_permissions(&tmp, existing.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(error)
}
