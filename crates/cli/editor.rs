//! Writing text in the user's editor without leaving plaintext on disk: the temporary file
//! lives in a private tmpfs directory (`$XDG_RUNTIME_DIR`, else `/dev/shm`), is created
//! with mode 0600, and is removed afterwards whatever happens.

use crate::error::{CliError, Result};
use std::io::Write;
use std::path::PathBuf;

fn private_tmp_dir() -> Result<PathBuf> {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
    ];
    candidates.into_iter().flatten().find(|d| d.is_dir()).ok_or_else(|| {
        CliError::new("no private in-memory directory for the editor's temporary file").hint(
            "set XDG_RUNTIME_DIR to a tmpfs directory only you can read, or pass the text as an argument or on stdin",
        )
    })
}

/// Open `$VISUAL` / `$EDITOR` on `initial`; return what the user saved.
pub fn edit(initial: &str) -> Result<String> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            CliError::new("no text given and no editor set")
                .hint("pass the text as an argument, pipe it on stdin, or set $EDITOR")
        })?;
    let mut file = tempfile::Builder::new()
        .prefix("duo-")
        .suffix(".md")
        .tempfile_in(private_tmp_dir()?)?;
    file.write_all(initial.as_bytes())?;
    file.flush()?;
    // The editor may carry arguments (`code --wait`), so let the shell split it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("duo-editor")
        .arg(file.path())
        .status()
        .map_err(|e| CliError::new(format!("could not start the editor '{editor}'")).cause(e))?;
    let text = std::fs::read_to_string(file.path())?;
    // `file` is removed when dropped, also on the error paths above.
    drop(file);
    if !status.success() {
        return Err(CliError::new(format!(
            "the editor '{editor}' exited with {status}; nothing was saved"
        )));
    }
    Ok(text)
}
